"""Regressions from a hostile pass over sync and the management API: each test is one thing
that once went wrong."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ota_desktop.changes import CreateCohort, MoveDevices, UpdateCohort
from ota_desktop.demo import write_demo
from ota_desktop.service import ProjectService
from ota_desktop.store import Store
from ota_desktop.sync import mirror
from tests.server.conftest import free_port
from tests.server.test_sync import PREFIX, new_mirror, sync


@pytest.fixture
def fleet(start_server, small_demo: Path):
    token = ProjectService(Store.open(small_demo)).create_token("desk", permit_protected=True)
    return start_server(small_demo), token, small_demo


def config_without_devices(path: Path) -> object:
    return Store.open(path).configuration()


def test_a_token_not_permitted_in_protected_cohorts_cannot_unprotect_one(fleet) -> None:
    server, _, db = fleet
    plain = ProjectService(Store.open(db)).create_token("ci")
    with server.client(headers={"Authorization": f"Bearer {plain}"}) as http:
        patched = http.patch(PREFIX + "/cohorts/default", json={"protected": False})
        pushed = http.post(PREFIX + "/changes", json={"client": "c" * 16, "changes": [
            {"id": "unprotect-1", "base_revision": 0,
             "change": {"type": "UpdateCohort", "cohort": "default", "protected": False}}]})
        renamed = http.patch(PREFIX + "/cohorts/default", json={"name": "Everyone"})
    assert patched.status_code == 403 and "protected" in patched.json()["error"]["message"]
    assert pushed.status_code == 403 and pushed.json()["applied"] == []
    assert renamed.status_code == 200  # other cohort fields stay editable
    assert next(c for c in Store.open(db).cohorts() if c.slug == "default").protected


def test_an_upload_slot_must_have_been_issued(fleet, tmp_path) -> None:
    import tempfile

    server, token, db = fleet
    before = set(Path(tempfile.gettempdir()).glob("ota-upload-*"))
    with server.client() as http:  # no credentials at all
        r = http.put(PREFIX + "/upload/made-up-slot", content=b"x" * 1000)
    assert r.status_code == 404
    assert set(Path(tempfile.gettempdir()).glob("ota-upload-*")) == before


@pytest.mark.parametrize("change", [
    {"type": ["CreateCohort"]},
    {"type": "CreateCohort", "slug": "h1", "polling_interval_s": 10**30},
    {"type": "CreateCohort", "slug": "ps1", "polling_interval_s": "soon"},
    {"type": "CreateCohort", "slug": "h2", "polling_interval_s": -5},
    {"type": "CreateCohort", "slug": "bad/slug"},
    {"type": "CreateCohort", "slug": "nul\x00"},
    {"type": "CreateCohort", "slug": "n", "name": [1]},
    {"type": "UpdateCohort", "cohort": "beta", "protected": "yes"},
    {"type": "MoveDevices", "cohort": ["default"], "serials": ["x"]},
    {"type": "MoveDevices", "cohort": "beta", "serials": [None, {}]},
    {"type": "SetKeyOverride", "key": ["k"], "cohort_override": None},
    {"type": "CreateRelease", "software_type": "main", "version": "9", "notes": {"a": 1}},
    {"type": "CreateRelease", "software_type": "main", "version": "9", "payloads": [
        {"filename": "a", "size": 10**30, "sha256": "", "sha1": "", "md5": "",
         "attributes": {}}]},
    {"type": "Activate", "ref": {"software_type": "main", "version": "2.0"}, "cohort": "beta",
     "seed": "abc"},
])
def test_a_hostile_pushed_change_is_refused_with_a_400(fleet, change) -> None:
    server, token, db = fleet
    before = Store.open(db).db.execute("SELECT max(id) FROM operations").fetchone()[0]
    with server.client(headers={"Authorization": f"Bearer {token}"}) as http:
        r = http.post(PREFIX + "/changes", json={"client": "c" * 16, "changes": [
            {"id": "hostile-1", "base_revision": 0, "change": change}]})
    assert r.status_code == 400, r.text
    assert set(r.json()["error"]) == {"message", "type"}
    assert Store.open(db).db.execute("SELECT max(id) FROM operations").fetchone()[0] == before


def test_a_huge_base_revision_and_reused_ids_are_refused(fleet) -> None:
    server, token, db = fleet
    cohort = {"type": "CreateCohort", "slug": "once"}
    with server.client(headers={"Authorization": f"Bearer {token}"}) as http:
        huge = http.post(PREFIX + "/changes", json={"client": "c" * 16, "changes": [
            {"id": "id-000001", "base_revision": 10**30, "change": cohort}]})
        twice = http.post(PREFIX + "/changes", json={"client": "c" * 16, "changes": [
            {"id": "id-000002", "base_revision": 0, "change": cohort},
            {"id": "id-000002", "base_revision": 0, "change": {**cohort, "slug": "other"}}]})
        first = http.post(PREFIX + "/changes", json={"client": "c" * 16, "changes": [
            {"id": "id-000003", "base_revision": 0, "change": cohort}]})
        reused = http.post(PREFIX + "/changes", json={"client": "c" * 16, "changes": [
            {"id": "id-000003", "base_revision": 0, "change": {**cohort, "slug": "other"}}]})
    assert huge.status_code == twice.status_code == 400
    assert first.status_code == 200
    assert reused.status_code == 400 and "different change" in reused.json()["error"]["message"]
    assert "other" not in [c.slug for c in Store.open(db).cohorts()]


def test_edits_made_while_disconnected_are_sent_after_reconnecting(fleet, tmp_path) -> None:
    server, token, db = fleet
    m = new_mirror(tmp_path, "m", server.url, token)
    sync(m)
    client = mirror.link(Store.open(m)).client
    mirror.disconnect(Store.open(m))
    mirror.apply_local(Store.open(m), CreateCohort("made-while-unlinked"))
    assert mirror.status(Store.open(m)).label == "Disconnected · 1 pending"
    mirror.connect(Store.open(m), server.url, "acme", "demo", token)
    assert mirror.link(Store.open(m)).client == client  # the same desktop, not a stranger
    assert sync(m).pushed == 1
    assert "made-while-unlinked" in [c.slug for c in Store.open(db).cohorts()]


def test_a_replaced_server_file_is_noticed_and_nothing_is_overwritten_blindly(
        start_server, tmp_path) -> None:
    path = tmp_path / "server.db"
    store = Store.open(path)
    write_demo(store, scale=0.001)
    token = ProjectService(store).create_token("desk", permit_protected=True)
    store.close()
    older = tmp_path / "older.db"
    shutil.copyfile(path, older)  # a backup taken now
    port = free_port()
    server = start_server(path, port=port)
    m = new_mirror(tmp_path, "m", server.url, token)
    sync(m)
    for i in range(5):  # the server moves on
        mirror.apply_local(Store.open(m), CreateCohort(f"later-{i}"))
    mirror.apply_local(Store.open(m), MoveDevices(("DEF-09-000000",), "later-0"))
    sync(m)
    server.stop()
    path = older  # ... and is restored from the older backup, at the same address
    ProjectService(Store.open(path)).update_cohort("beta", name="Renamed on the server")
    server = start_server(path, port=port)

    mirror.apply_local(Store.open(m), UpdateCohort("beta", name="Renamed on my desk"))
    report = sync(m)
    assert report.conflicts == 1  # based on nothing this server has seen: not applied blindly
    beta = next(c for c in Store.open(path).cohorts() if c.slug == "beta")
    assert beta.name == "Renamed on the server"
    mine = Store.open(m)
    assert config_without_devices(m) == config_without_devices(path)  # re-pulled whole
    assert mine.device_count() == Store.open(path).device_count()
    assert mine.device("DEF-09-000000").cohort == "default"
    assert mine.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert mirror.status(mine).label == "Conflict (1)"


def test_a_refused_edit_does_not_stay_visible_and_devices_keep_their_cohort(fleet,
                                                                            tmp_path) -> None:
    server, token, db = fleet
    m = new_mirror(tmp_path, "m", server.url, token)
    sync(m)
    service = ProjectService(Store.open(db))
    service.create_cohort("prod")  # takes the next cohort id on the server
    service.create_cohort("qa")
    mirror.apply_local(Store.open(m), CreateCohort("qa"))  # the same id locally
    mirror.apply_local(Store.open(m), MoveDevices(("DEF-09-000000",), "qa"))
    report = sync(m)
    assert report.conflicts == 1  # "qa already exists": refused
    mine = Store.open(m)
    assert [i.state for i in mirror.outbox(mine)] == ["refused", "pending"]
    # the mirror shows the server's cohorts, and the device is in a cohort called qa —
    # the server's — never in prod because ids happened to collide
    assert [c.slug for c in mine.cohorts()] == [c.slug for c in Store.open(db).cohorts()]
    assert mine.device("DEF-09-000000").cohort == "qa"
    assert mine.groups("qa", "main") == mine.recount_groups("qa", "main")


def test_a_staged_rollout_from_a_desktop_leaves_the_servers_draw_on_the_mirror(
        fleet, tmp_path) -> None:
    from ota_desktop.changes import Activate
    from ota_desktop.model import ReleaseRef

    server, token, db = fleet
    ProjectService(Store.open(db)).create_release("main", "3.0")
    m = new_mirror(tmp_path, "m", server.url, token)
    sync(m)
    mirror.apply_local(Store.open(m), Activate(ReleaseRef("main", version="3.0"), "beta",
                                               kind="staged", rollout_percent=30))
    sync(m)  # the server drew its own 30%; the mirror's local draw must not linger
    mine, theirs = Store.open(m), Store.open(db)
    assert mine.groups("beta", "main") == theirs.groups("beta", "main")
    staged = "SELECT serial FROM devices WHERE staged = 1 ORDER BY serial"
    assert mine.db.execute(staged).fetchall() == theirs.db.execute(staged).fetchall()


def test_a_discarded_move_puts_the_device_back_where_the_server_has_it(fleet,
                                                                       tmp_path) -> None:
    server, token, db = fleet
    m = new_mirror(tmp_path, "m", server.url, token)
    sync(m)
    ProjectService(Store.open(db)).create_cohort("qa")  # someone else takes the slug
    mirror.apply_local(Store.open(m), CreateCohort("qa"))
    mirror.apply_local(Store.open(m), MoveDevices(("DEF-09-000000",), "qa"))
    sync(m)  # qa refused ("already exists"); the move waits behind it
    for item in mirror.outbox(Store.open(m)):
        if item.state != "pending":
            mirror.resolve(Store.open(m), item.id, "theirs")
    for item in mirror.outbox(Store.open(m), ("pending",)):  # the user drops the move too
        mirror.resolve(Store.open(m), item.id, "theirs")
    sync(m)
    assert Store.open(m).device("DEF-09-000000").cohort == "default"
    assert Store.open(m).groups("default", "main") == Store.open(db).groups("default", "main")


@pytest.mark.parametrize(("method", "path", "body", "status"), [
    ("POST", "/cohorts", {"slug": "h1", "polling_interval_s": 10**30}, 400),
    ("POST", "/cohorts", {"slug": "h1", "polling_interval_s": -5}, 400),
    ("POST", "/cohorts", {"slug": "a/b"}, 400),
    ("POST", "/cohorts", {"slug": "x" * 100_000}, 400),
    ("POST", "/cohorts", {"slug": "n", "name": "nul\x00"}, 400),
    ("PATCH", "/cohorts/nonexistent", {"name": "x"}, 404),
    ("POST", "/project-keys", {"key": ""}, 400),
    ("POST", "/project-keys", {"key": "with\x00nul"}, 400),
    ("GET", "/changes?after=%D9%A3", None, 400),
    ("GET", "/sync/devices?limit=99999999999999999999999", None, 400),
])
def test_hostile_management_requests_are_4xx_and_change_nothing(fleet, method, path, body,
                                                                status) -> None:
    server, token, db = fleet
    before = Store.open(db).db.execute("SELECT max(id) FROM operations").fetchone()[0]
    with server.client(headers={"Authorization": f"Bearer {token}"}) as http:
        r = http.request(method, PREFIX + path, json=body)
    assert r.status_code == status, r.text
    assert set(r.json()["error"]) == {"message", "type"}
    assert Store.open(db).db.execute("SELECT max(id) FROM operations").fetchone()[0] == before


def test_the_cli_refuses_a_huge_polling_interval_with_a_sentence(small_demo) -> None:
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "ota_desktop", "cohort", "create", "--db",
                        str(small_demo), "--slug", "big", "--polling-interval",
                        "99999999999999999999"], capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "polling interval" in r.stderr


def test_a_desktops_own_edits_do_not_make_it_read_the_whole_fleet_again(fleet,
                                                                        tmp_path) -> None:
    from ota_desktop.changes import Activate
    from ota_desktop.model import ReleaseRef

    server, token, db = fleet
    ProjectService(Store.open(db)).create_release("main", "3.0")
    m = new_mirror(tmp_path, "m", server.url, token)
    assert sync(m).devices == 981
    mirror.apply_local(Store.open(m), MoveDevices(("DEF-09-000000", "DEF-09-000001"), "beta"))
    assert sync(m).devices == 2  # just the two the server moved
    assert sync(m).devices == 0
    mirror.apply_local(Store.open(m), Activate(ReleaseRef("main", version="3.0"), "beta",
                                               kind="staged", rollout_percent=50))
    report = sync(m)
    beta = Store.open(db).device_count("beta")
    assert report.devices <= beta  # the server's draw, not the fleet
    staged = "SELECT serial FROM devices WHERE staged = 1 ORDER BY serial"
    assert Store.open(m).db.execute(staged).fetchall() == \
        Store.open(db).db.execute(staged).fetchall()


def test_a_lone_surrogate_anywhere_in_a_body_is_a_400_and_the_feed_stays_readable(
        fleet) -> None:
    server, token, db = fleet
    release = {"type": "CreateRelease", "software_type": "main", "version": "8.0",
               "payloads": [{"filename": "a", "size": 1, "sha256": "", "sha1": "", "md5": "",
                             "attributes": {"hardware_version": "\ud800"}}]}
    bodies = [
        ("/changes", {"client": "c" * 16, "changes": [
            {"id": "surrogate-1", "base_revision": 0, "change": release}]}),
        ("/sync/devices/lookup", {"serials": ["\ud800"]}),
        ("/cohorts/beta/devices", {"serials": ["\ud800"]}),
        ("/deployments", {"cohort": "\ud800", "release": "2.0"}),
    ]
    import json as _json
    with server.client(headers={"Authorization": f"Bearer {token}",
                                "Content-Type": "application/json"}) as http:
        for path, body in bodies:
            raw = _json.dumps(body)  # ensure_ascii: the surrogate travels as \\ud800
            r = http.post(PREFIX + path, content=raw)
            assert r.status_code == 400, (path, r.text)
        assert http.get(PREFIX + "/changes", params={"after": 0}).status_code == 200
        assert http.get(PREFIX + "/releases").status_code == 200


def test_a_restored_server_that_moved_past_the_cursor_is_still_noticed(start_server,
                                                                      tmp_path) -> None:
    path = tmp_path / "server.db"
    store = Store.open(path)
    write_demo(store, scale=0.001)
    token = ProjectService(store).create_token("desk", permit_protected=True)
    store.close()
    older = tmp_path / "older.db"
    shutil.copyfile(path, older)
    port = free_port()
    server = start_server(path, port=port)
    m = new_mirror(tmp_path, "m", server.url, token)
    sync(m)
    mirror.apply_local(Store.open(m), CreateCohort("only-on-the-lost-server"))
    sync(m)
    server.stop()
    restored = ProjectService(Store.open(older))  # the backup, then others carry on: the
    restored.update_cohort("beta", name="Renamed after the restore")  # rename takes the
    for i in range(5):  # sequence number the mirror last saw, and the server moves past it
        restored.create_cohort(f"after-restore-{i}")
    start_server(older, port=port)
    mirror.apply_local(Store.open(m), UpdateCohort("beta", name="Mine"))
    report = sync(m)
    assert report.conflicts == 1  # not silently over the other rename
    assert next(c for c in Store.open(older).cohorts() if c.slug == "beta").name == \
        "Renamed after the restore"
    assert config_without_devices(m) == config_without_devices(older)


def test_small_cli_and_upload_leftovers(fleet, small_demo, tmp_path) -> None:
    import subprocess
    import sys

    server, token, db = fleet

    def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "ota_desktop", *args], input=stdin,
                              capture_output=True, text=True, timeout=60)

    zero = cli("cohort", "create", "--db", str(db), "--slug", "z", "--polling-interval", "0")
    assert zero.returncode == 2 and "polling interval" in zero.stderr
    missing = tmp_path / "never.db"
    refused = cli("sync", "connect", "--db", str(missing), "--url", server.url,
                  "--token-stdin", stdin="oat_wrong\n")
    assert refused.returncode == 1 and not missing.exists()
    linked = tmp_path / "linked.db"
    assert cli("sync", "connect", "--db", str(linked), "--url", server.url, "--token-stdin",
               stdin=token + "\n").returncode == 0
    huge = cli("sync", "resolve", "--db", str(linked), "99999999999999999999999", "--keep",
               "theirs")
    assert huge.returncode == 2 and "Traceback" not in huge.stderr
    with server.client(headers={"Authorization": f"Bearer {token}"}) as http:
        slot = http.post(PREFIX + "/upload", json={"size": 5}).json()["data"]
        big = http.put(slot["upload_url"].replace(server.url, ""), content=b"x" * 100_000)
    assert big.status_code == 413
