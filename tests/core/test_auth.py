"""Roles and organization auth tokens (SPEC §1, §5): no principal gets further than its role."""

from __future__ import annotations

from pathlib import Path

import pytest

from ota_desktop.auth import Principal, hash_token
from ota_desktop.cli import main
from ota_desktop.errors import Forbidden
from ota_desktop.model import ReleaseRef
from ota_desktop.service import ProjectService
from ota_desktop.service.access import principal_for_token, principal_for_user
from ota_desktop.store import Store

R11 = ReleaseRef("main", version="1.1")


def service_as(db: Path, principal: Principal) -> ProjectService:
    return ProjectService(Store.open(db), principal=principal)


# (who, create a release, activate in unprotected beta, activate in protected default)
MATRIX = [
    (Principal("rita", "reader"), False, False, False),
    (Principal("mo", "member"), True, False, False),
    (Principal("mia", "manager"), True, True, True),
    (Principal("ci", is_token=True), True, True, False),
    (Principal("ci-prod", is_token=True, permit_protected=True), True, True, True),
]


@pytest.mark.parametrize(("who", "edit", "beta", "default"), MATRIX,
                         ids=[m[0].name for m in MATRIX])
def test_role_matrix(small_demo: Path, who: Principal, edit: bool, beta: bool,
                     default: bool) -> None:
    service = service_as(small_demo, who)
    before = len(service.store.operations(limit=10**6))
    outcomes = []
    for attempt in (lambda: service.create_release("main", "9.9"),
                    lambda: service.activate(R11, "beta"),
                    lambda: service.activate(R11, "default"),
                    lambda: service.deactivate(ReleaseRef("main", version="2.0"), "default")):
        try:
            attempt()
            outcomes.append(True)
        except Forbidden:
            outcomes.append(False)
    assert outcomes == [edit, beta, default, default]
    assert len(service.store.operations(limit=10**6)) == before + sum(outcomes)


def test_a_token_activation_records_an_empty_activated_by(small_demo: Path) -> None:
    service = service_as(small_demo, Principal("ci", is_token=True))
    service.activate(R11, "beta")
    history = service.store.activation_history()
    assert history[-1]["activated_by"] == ""
    manager = service_as(small_demo, Principal("mia", "manager"))
    manager.activate(ReleaseRef("main", version="1.0"), "beta")
    assert manager.store.activation_history()[-1]["activated_by"] == "mia"


def test_only_managers_manage_users_and_tokens(small_demo: Path) -> None:
    with pytest.raises(Forbidden, match="Only a manager"):
        service_as(small_demo, Principal("mo", "member")).create_user("x", "reader")
    with pytest.raises(Forbidden):
        service_as(small_demo, Principal("ci", is_token=True)).create_token("more")


def test_tokens_are_stored_only_as_hashes_and_can_be_revoked(small_demo: Path, capsys) -> None:
    assert main(["token", "create", "--db", str(small_demo), "--name", "pipeline",
                 "--permit-protected"]) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("oat_") and len(token) > 40
    raw = small_demo.read_bytes() + small_demo.with_name(small_demo.name + "-wal").read_bytes()
    assert token.encode() not in raw and hash_token(token).encode() in raw
    store = Store.open(small_demo)
    who = principal_for_token(store, token)
    assert who is not None and who.is_token and who.permit_protected
    assert main(["token", "revoke", "--db", str(small_demo), token[:10]]) == 0
    assert principal_for_token(store, token) is None
    assert principal_for_token(store, "oat_guess") is None


def test_user_create_on_the_command_line(small_demo: Path, capsys) -> None:
    assert main(["user", "create", "--db", str(small_demo), "--name", "rita",
                 "--role", "reader"]) == 0
    assert principal_for_user(Store.open(small_demo), "rita") == Principal("rita", "reader")
    assert main(["user", "create", "--db", str(small_demo), "--name", "rita",
                 "--role", "reader"]) == 2
    assert "already exists" in capsys.readouterr().err
