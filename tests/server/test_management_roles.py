"""The management API's role × endpoint matrix, against the real server: who may read, who may
edit releases/cohorts/devices/keys, who may change activations (and in which cohort), and that
a refused or unauthenticated request records nothing.

Rules (ota_desktop.auth / ServiceBase._authorize): readers only read; members edit releases,
cohorts, devices and keys; only managers and tokens change activations; in a protected cohort
(``default``) only managers and tokens created with permit_protected=True (``beta`` is not
protected)."""

from __future__ import annotations

import base64
import hashlib
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ota_desktop.service import ProjectService
from ota_desktop.store import Store

PREFIX = "/api/v0/organizations/acme/projects/demo"
KEY = "demo-project-key"
_ids = itertools.count(1)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass(frozen=True)
class Call:
    """One request; ``path`` follows PREFIX. ``{serial}`` (a device in ``default``),
    ``{beta_deployment}`` and ``{default_deployment}`` (active activation ids) are filled in
    from the store; a push's ``base_revision`` is the server's current revision."""

    method: str
    path: str
    body: Any = None

    def __str__(self) -> str:
        kind = ""
        if self.path == "/changes" and self.body:
            change = self.body["change"]
            kind = f" {change['type']}" + (f"@{change['cohort']}" if "cohort" in change else "")
        elif self.path == "/deployments" and self.body:
            kind = f"@{self.body['cohort']}"
        return f"{self.method} {self.path or '/'}{kind}"


def push(change: dict[str, Any]) -> dict[str, Any]:
    """A POST /changes body holding one queued change (see Call.request)."""
    return {"change": change}


REF_20 = {"software_type": "main", "version": "2.0"}
REF_11 = {"software_type": "main", "version": "1.1"}

READS = [
    Call("GET", ""),
    Call("GET", "/releases"),
    Call("GET", "/releases/2.0"),
    Call("GET", "/delta-releases"),
    Call("GET", "/cohorts"),
    Call("GET", "/devices"),
    Call("GET", "/devices/{serial}"),
    Call("GET", "/project-keys"),
    Call("GET", "/deployments"),
    Call("GET", "/changes"),
    Call("GET", "/sync/configuration"),
    Call("GET", "/sync/devices"),
]

PRINCIPALS = ("reader", "member", "manager", "token", "permitted")

# Every change × principal → the expected status. "token" is an org token without
# permit_protected, "permitted" one with it. 2.0 is already active in ``default`` (activating
# it again is a rule violation for anyone), so ``default`` is activated with 1.1.
#                                                                      reader member manager token permitted
CHANGES: list[tuple[Call, int, int, int, int, int]] = [
    (Call("PATCH", "/releases/2.0", {"notes": "x"}),                     403,  200,   200,  200,  200),
    (Call("POST", "/cohorts", {"slug": "qa"}),                           403,  201,   201,  201,  201),
    (Call("PATCH", "/cohorts/beta", {"name": "Beta 2"}),                 403,  200,   200,  200,  200),
    (Call("POST", "/cohorts/beta/devices", {"serials": ["{serial}"]}),   403,  200,   200,  200,  200),
    (Call("POST", "/project-keys", {"key": "ci-key-0001"}),              403,  201,   201,  201,  201),
    (Call("PATCH", f"/project-keys/{KEY}", {"cohort_override": "beta"}), 403,  200,   200,  200,  200),
    (Call("POST", "/deployments", {"cohort": "beta", "release": "2.0"}), 403,  403,   201,  201,  201),
    (Call("POST", "/deployments", {"cohort": "default", "release": "1.1"}),
                                                                         403,  403,   201,  403,  201),
    (Call("DELETE", "/deployments/{beta_deployment}"),                   403,  403,   204,  204,  204),
    (Call("DELETE", "/deployments/{default_deployment}"),                403,  403,   204,  403,  204),
    (Call("POST", "/changes", push({"type": "CreateCohort", "slug": "pushed"})),
                                                                         403,  200,   200,  200,  200),
    (Call("POST", "/changes", push({"type": "Activate", "ref": REF_20, "cohort": "beta"})),
                                                                         403,  403,   200,  200,  200),
    (Call("POST", "/changes", push({"type": "Activate", "ref": REF_11, "cohort": "default"})),
                                                                         403,  403,   200,  403,  200),
]

# Management endpoints outside the role matrix that must still refuse strangers.
OTHER = [
    Call("POST", "/upload", {"size": 10}),
    Call("POST", "/releases/ota_payload", {}),
    Call("GET", "/sync/artifacts/" + "0" * 64),
    Call("PUT", "/sync/artifacts/" + "0" * 64, "x"),
]

UNAUTHENTICATED = ("none", "wrong password", "unknown user", "revoked token",
                   "revoked token as password", "garbage basic", "garbage bearer",
                   "unknown scheme")


@dataclass
class Project:
    path: Path
    server: Any
    credentials: dict[str, str]  # principal -> Authorization header
    facts: dict[str, str]

    def revision(self) -> int:
        store = Store.open(self.path)  # a fresh connection: what is committed
        try:
            return int(store.db.execute("SELECT coalesce(max(id), 0) FROM operations")
                       .fetchone()[0])
        finally:
            store.close()

    def request(self, who: str, call: Call) -> Any:
        headers = {"Authorization": self.credentials[who]} if self.credentials[who] else {}
        path = PREFIX + call.path.format(**self.facts)
        body = call.body
        if isinstance(body, dict) and "serials" in body:
            body = {"serials": [self.facts["serial"]]}
        if call.path == "/changes" and body:
            body = {"client": "c" * 16, "changes": [
                {"id": f"push-{next(_ids):06d}", "base_revision": self.revision(),
                 "change": body["change"]}]}
        with self.server.client(headers=headers) as http:
            if isinstance(body, str):
                return http.request(call.method, path, content=body)
            return http.request(call.method, path, json=body)


@pytest.fixture
def project(start_server, small_demo: Path) -> Project:
    service = ProjectService(Store.open(small_demo))
    credentials = {"none": ""}
    for name, role in (("rita", "reader"), ("max", "member"), ("mia", "manager")):
        service.create_user(name, role, password=f"{name}-s3cret")
        credentials[role] = basic(name, f"{name}-s3cret")
    token = service.create_token("t")
    permitted = service.create_token("p", permit_protected=True)
    revoked = service.create_token("old", permit_protected=True)
    service.revoke_token(revoked[:10])
    credentials |= {
        "token": f"Bearer {token}",
        "permitted": f"Bearer {permitted}",
        "permitted as password": basic("", permitted),  # how memfault-cli sends it
        "wrong password": basic("mia", "not-her-password"),
        "unknown user": basic("nobody", "mia-s3cret"),
        "revoked token": f"Bearer {revoked}",
        "revoked token as password": basic("", revoked),
        "garbage basic": "Basic %%%not base64%%%",
        "garbage bearer": "Bearer oat_not-a-real-token",
        "unknown scheme": f"Token {permitted}",
    }
    store = Store.open(small_demo)
    history = store.activation_history()
    facts = {
        "serial": store.db.execute(
            "SELECT d.serial FROM devices d JOIN cohorts c ON c.id = d.cohort_id "
            "WHERE c.slug = 'default' ORDER BY d.serial LIMIT 1").fetchone()[0],
        "beta_deployment": next(str(r["id"]) for r in history
                                if r["cohort"] == "beta" and r["status"] == "active"),
        "default_deployment": next(str(r["id"]) for r in history if r["cohort"] == "default"
                                   and r["release"] == "2.0" and r["status"] == "active"),
    }
    store.close()
    return Project(small_demo, start_server(small_demo), credentials, facts)


def assert_error(r: Any, status: int, kind: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    error = body["error"]
    assert isinstance(error, dict) and set(error) == {"message", "type"}, body
    assert isinstance(error["message"], str) and error["message"], body
    assert error["type"] == kind, body
    return body


@pytest.mark.parametrize("who", [*PRINCIPALS, "permitted as password"])
def test_every_principal_may_read_everything(project: Project, who: str) -> None:
    before = project.revision()
    for call in READS:
        r = project.request(who, call)
        assert r.status_code == 200, f"{who} {call}: {r.status_code} {r.text}"
        assert "error" not in r.json(), f"{who} {call}: {r.text}"
    assert project.revision() == before


@pytest.mark.parametrize("who", UNAUTHENTICATED)
def test_strangers_get_401_everywhere_and_change_nothing(project: Project, who: str) -> None:
    before = project.revision()
    for call in [*READS, *(row[0] for row in CHANGES), *OTHER]:
        r = project.request(who, call)
        assert r.status_code == 401, f"{who} {call}: {r.status_code} {r.text}"
        assert_error(r, 401, "unauthorized")
    assert project.revision() == before
    store = Store.open(project.path)
    device = store.device(project.facts["serial"])
    store.close()
    assert device is not None and device.cohort == "default"  # the move was not made


MATRIX = [pytest.param(call, who, status, id=f"{who}: {call}")
          for call, *statuses in CHANGES
          for who, status in zip(PRINCIPALS, statuses, strict=True)]


@pytest.mark.parametrize(("call", "who", "status"), MATRIX)
def test_role_matrix(project: Project, call: Call, who: str, status: int) -> None:
    before = project.revision()
    r = project.request(who, call)
    if status == 403:
        body = assert_error(r, 403, "forbidden")
        if call.path == "/changes":
            assert body["applied"] == [] and body["refused"]["message"] == body["error"][
                "message"]
        assert project.revision() == before, "a refused change recorded an operation"
    else:
        assert r.status_code == status, f"{who} {call}: {r.status_code} {r.text}"
        if call.path == "/changes":
            [applied] = r.json()["applied"]
            assert applied["seq"] == project.revision()
        assert project.revision() > before, "an allowed change recorded no operation"


FILE = b"a payload file"
UPLOADS = [Call("POST", "/upload", {"size": len(FILE)}),
           Call("PUT", f"/sync/artifacts/{hashlib.sha256(FILE).hexdigest()}", FILE.decode())]


@pytest.mark.parametrize("who", PRINCIPALS)
def test_only_editors_may_store_files(project: Project, who: str) -> None:
    """An upload slot and a synced artifact put a file on the server (no operation is
    recorded for either): a reader may do neither."""
    before = project.revision()
    for call, allowed in zip(UPLOADS, (200, 201), strict=True):
        r = project.request(who, call)
        if who == "reader":
            assert_error(r, 403, "forbidden")
        else:
            assert r.status_code == allowed, f"{who} {call}: {r.status_code} {r.text}"
    assert project.revision() == before
