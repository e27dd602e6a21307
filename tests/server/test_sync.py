"""Two desktops (two mirrors) and one server: edits go up, conflicts come back with both
versions, offline edits wait in the outbox, and nothing is applied twice."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ota_desktop.changes import Activate, CreateCohort, EditRelease
from ota_desktop.model import ReleaseRef
from ota_desktop.service import ProjectService
from ota_desktop.store import Store
from ota_desktop.sync import mirror
from ota_desktop.sync.client import Offline, SyncClient, SyncReport
from tests.server.conftest import free_port

R30 = ReleaseRef("main", version="3.0")
PREFIX = "/api/v0/organizations/acme/projects/demo"


def sync(path: Path) -> SyncReport:
    client = SyncClient(path)
    try:
        return asyncio.run(client.sync())
    finally:
        client.close()


def new_mirror(tmp_path: Path, name: str, url: str, credential: str) -> Path:
    path = tmp_path / f"{name}.db"
    store = Store.open(path)
    mirror.connect(store, url, "acme", "demo", credential)
    store.close()
    return path


@pytest.fixture
def fleet(start_server, small_demo: Path):
    service = ProjectService(Store.open(small_demo))
    service.create_release("main", "3.0", notes="original")
    token = service.create_token("desktops", permit_protected=True)
    return start_server(small_demo), token, small_demo


def release_notes(path: Path) -> str:
    return next(r.notes for r in Store.open(path).configuration().releases if r.version == "3.0")


def test_first_sync_mirrors_configuration_and_fleet(fleet, tmp_path) -> None:
    server, token, db = fleet
    m1 = new_mirror(tmp_path, "m1", server.url, token)
    report = sync(m1)
    assert report.refreshed and report.devices == Store.open(db).device_count() == 981
    mine, theirs = Store.open(m1), Store.open(db)
    assert mine.configuration() == theirs.configuration()
    assert mine.groups("default", "main") == theirs.groups("default", "main")
    assert mirror.status(mine).label == "Synced"


def test_same_release_edited_on_two_desktops_conflicts_visibly(fleet, tmp_path) -> None:
    server, token, db = fleet
    m1 = new_mirror(tmp_path, "m1", server.url, token)
    m2 = new_mirror(tmp_path, "m2", server.url, token)
    sync(m1), sync(m2)
    mirror.apply_local(Store.open(m1), EditRelease(R30, notes="notes from desktop 1"))
    mirror.apply_local(Store.open(m2), EditRelease(R30, notes="notes from desktop 2"))
    assert mirror.status(Store.open(m2)).label == "Pending 1"

    assert sync(m1).pushed == 1
    report = sync(m2)
    assert (report.pushed, report.conflicts) == (0, 1)
    assert release_notes(db) == "notes from desktop 1"  # not applied blindly
    [item] = mirror.outbox(Store.open(m2))
    assert item.state == "conflict"
    assert item.change["notes"] == "notes from desktop 2"  # not dropped
    [theirs] = item.detail["server"]["changes"]
    assert theirs["kind"] == "release.update" and theirs["after"]["notes"] == "notes from desktop 1"
    assert mirror.status(Store.open(m2)).label == "Conflict (1)"

    mirror.resolve(Store.open(m2), item.id, "mine")  # keep mine: sent over the server's
    assert sync(m2).pushed == 1
    assert release_notes(db) == "notes from desktop 2"
    sync(m1)
    assert release_notes(m1) == release_notes(m2) == "notes from desktop 2"
    assert mirror.status(Store.open(m2)).label == "Synced"


def test_keep_theirs_discards_the_queued_edit_but_keeps_a_record(fleet, tmp_path) -> None:
    server, token, db = fleet
    m1 = new_mirror(tmp_path, "m1", server.url, token)
    m2 = new_mirror(tmp_path, "m2", server.url, token)
    sync(m1), sync(m2)
    mirror.apply_local(Store.open(m1), EditRelease(R30, notes="one"))
    mirror.apply_local(Store.open(m2), EditRelease(R30, notes="two"))
    sync(m1), sync(m2)
    [item] = mirror.outbox(Store.open(m2))
    mirror.resolve(Store.open(m2), item.id, "theirs")
    sync(m2)
    assert release_notes(db) == release_notes(m2) == "one"
    [kept] = mirror.outbox(Store.open(m2), ("discarded",))
    assert kept.change["notes"] == "two"


def test_edits_of_different_things_both_survive(fleet, tmp_path) -> None:
    server, token, db = fleet
    m1 = new_mirror(tmp_path, "m1", server.url, token)
    m2 = new_mirror(tmp_path, "m2", server.url, token)
    sync(m1), sync(m2)
    mirror.apply_local(Store.open(m1), EditRelease(R30, notes="edited on 1"))
    mirror.apply_local(Store.open(m2), CreateCohort("qa", "QA"))
    mirror.apply_local(Store.open(m2), Activate(R30, "qa"))
    assert sync(m1).conflicts == 0 and sync(m2).conflicts == 0
    sync(m1)
    for path in (db, m1, m2):
        config = Store.open(path).configuration()
        assert release_notes(path) == "edited on 1"
        assert any(a.cohort == "qa" and a.release == R30 for a in config.activations)
    server_ops = Store.open(db).db.execute(
        "SELECT kind FROM operations WHERE origin IS NOT NULL ORDER BY id").fetchall()
    assert [k for (k,) in server_ops] == ["release.update", "cohort.create",
                                          "activation.create"]


def test_offline_edit_reaches_the_server_after_reconnect(start_server, small_demo,
                                                         tmp_path) -> None:
    token = ProjectService(Store.open(small_demo)).create_token("t", permit_protected=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    m1 = new_mirror(tmp_path, "m1", url, token)
    server = start_server(small_demo, port=port)
    sync(m1)
    server.stop()  # the network goes away

    mirror.apply_local(Store.open(m1), CreateCohort("field", "Field test"))
    with pytest.raises(Offline):
        sync(m1)
    state = mirror.status(Store.open(m1), offline=True)
    assert (state.label, state.pending) == ("Offline · 1 pending", 1)
    assert "offline" in state.last_error
    assert "field" in [c.slug for c in Store.open(m1).cohorts()]  # still shown locally

    start_server(small_demo, port=port)  # back
    assert sync(m1).pushed == 1
    assert "field" in [c.slug for c in Store.open(small_demo).cohorts()]
    assert mirror.status(Store.open(m1)).label == "Synced"


def test_a_repeated_push_is_applied_once(fleet) -> None:
    server, token, db = fleet
    body = {"client": "c" * 16, "changes": [
        {"id": "push-0001", "base_revision": 0,
         "change": {"type": "CreateCohort", "slug": "once"}}]}
    with server.client(headers={"Authorization": f"Bearer {token}"}) as http:
        first = http.post(PREFIX + "/changes", json=body)
        again = http.post(PREFIX + "/changes", json=body)
    assert first.status_code == again.status_code == 200
    assert first.json()["applied"][0]["seq"] == again.json()["applied"][0]["seq"]
    assert again.json()["applied"][0]["repeated"] is True
    count = Store.open(db).db.execute(
        "SELECT count(*) FROM operations WHERE kind = 'cohort.create' AND entity = "
        "'cohort:once'").fetchone()[0]
    assert count == 1


def test_the_feed_is_paged_after_a_cursor(fleet) -> None:
    server, token, db = fleet
    with server.client(headers={"Authorization": f"Bearer {token}"}) as http:
        page = http.get(PREFIX + "/changes", params={"after": 0, "limit": 5}).json()
        rest = http.get(PREFIX + "/changes", params={"after": page["next"], "limit": 500}).json()
    assert [c["seq"] for c in page["changes"]] == [1, 2, 3, 4, 5] and page["more"] is True
    assert rest["changes"][0]["seq"] == 6 and rest["more"] is False
    assert rest["next"] == rest["revision"] == page["revision"]


@pytest.mark.parametrize("body", [
    None, [], {"client": "short"}, {"client": "c" * 16, "changes": "x"},
    {"client": "c" * 16, "changes": [{"id": "x"}]},
    {"client": "c" * 16, "changes": [{"id": "abcdefgh", "base_revision": -1, "change": {}}]},
    {"client": "c" * 16, "changes": [{"id": "abcdefgh", "base_revision": 0,
                                      "change": {"type": "Nope"}}]},
    {"client": "c" * 16, "changes": [{"id": "abcdefgh", "base_revision": 0,
                                      "change": {"type": "Activate", "ref": 5}}]},
    {"client": "c" * 16, "changes": [{"id": "abcdefgh", "base_revision": 0,
                                      "change": {"type": "SetRollout", "cohort": "beta",
                                                 "ref": {"software_type": "main",
                                                         "version": "3.0"},
                                                 "rollout_percent": "lots"}}]},
    {"client": "c" * 16, "changes": [{"id": "abcdefgh", "base_revision": 0,
                                      "change": {"type": "CreateCohort", "slug": ["x"]}}]},
])
def test_a_malformed_push_is_a_400_and_changes_nothing(fleet, body) -> None:
    server, token, db = fleet
    before = Store.open(db).db.execute("SELECT max(id) FROM operations").fetchone()[0]
    with server.client(headers={"Authorization": f"Bearer {token}"}) as http:
        r = http.post(PREFIX + "/changes", json=body)
    assert r.status_code == 400, r.text
    assert set(r.json()["error"]) == {"message", "type"}
    assert Store.open(db).db.execute("SELECT max(id) FROM operations").fetchone()[0] == before


def test_a_refused_push_is_kept_with_the_reason(fleet, tmp_path) -> None:
    server, token, db = fleet
    service = ProjectService(Store.open(db))
    service.create_user("rita", "reader", password="s3cret-pass")
    m1 = new_mirror(tmp_path, "m1", server.url, "rita:s3cret-pass")
    # queued before the first sync ever ran (so before the desktop knew it signs in as a
    # reader): the server refuses it, the desktop keeps it with the reason
    mirror.apply_local(Store.open(m1), CreateCohort("nope"))
    report = sync(m1)
    assert report.conflicts == 1
    [item] = mirror.outbox(Store.open(m1))
    assert item.state == "refused" and "reader" in item.detail["message"]
    assert "nope" not in [c.slug for c in Store.open(db).cohorts()]


def test_payload_files_travel_with_the_edit_and_down_to_other_mirrors(fleet, tmp_path) -> None:
    from ota_desktop.artifacts import ArtifactStore, artifact_root
    from ota_desktop.changes import CreateRelease, NewPayload

    server, token, db = fleet
    m1 = new_mirror(tmp_path, "m1", server.url, token)
    m2 = new_mirror(tmp_path, "m2", server.url, token)
    sync(m1)
    image = tmp_path / "main-4.0.swu"
    image.write_bytes(b"image 4.0 " * 20_000)
    stored = ArtifactStore(artifact_root(m1)).add_file(image)
    mirror.apply_local(Store.open(m1), CreateRelease("main", "4.0", payloads=(NewPayload(
        stored.filename, stored.size, stored.sha256, stored.sha1, stored.md5,
        {"hardware_version": "evt"}),)))
    assert sync(m1).pushed == 1
    on_server = ArtifactStore(artifact_root(db)).path_for(stored.sha256)
    assert on_server.read_bytes() == image.read_bytes()
    sync(m2)
    copied = ArtifactStore(artifact_root(m2)).path_for(stored.sha256)
    assert copied.read_bytes() == image.read_bytes()
    [payload] = next(r for r in Store.open(m2).configuration().releases
                     if r.version == "4.0").payloads
    assert payload.sha256 == stored.sha256


def test_an_artifact_upload_that_does_not_match_its_hash_is_refused(fleet) -> None:
    server, token, db = fleet
    with server.client(headers={"Authorization": f"Bearer {token}"}) as http:
        r = http.put(PREFIX + "/sync/artifacts/" + "a" * 64, content=b"not that file")
        bad = http.put(PREFIX + "/sync/artifacts/../../etc", content=b"x")
    assert r.status_code == 400 and "sha256" in r.json()["error"]["message"]
    assert bad.status_code in (400, 404)
    from ota_desktop.artifacts import ArtifactStore, artifact_root
    assert not ArtifactStore(artifact_root(db)).path_for("a" * 64).exists()


def test_a_factory_station_serves_what_it_last_pulled(fleet, start_server, tmp_path) -> None:
    """A mirror serving devices on its own network answers from the server's latest state
    as soon as a sync brought it (the serving cache follows the refresh)."""
    server, token, db = fleet
    station = new_mirror(tmp_path, "station", server.url, token)
    sync(station)
    local = start_server(station)
    ask = {"device_serial": "LINE-1", "hardware_version": "evt", "software_type": "main",
           "current_version": "2.1"}
    key = {"Memfault-Project-Key": "demo-project-key"}
    with local.client() as http:
        assert http.get("/api/v0/releases/latest", params=ask, headers=key).status_code == 204
    service = ProjectService(Store.open(db))
    service.add_payload(R30, "main-3.0.swu", size=10, attributes={"hardware_version": "evt"})
    service.activate(R30, "default")  # on the server
    sync(station)
    with local.client() as http:
        r = http.get("/api/v0/releases/latest", params=ask, headers=key)
    assert r.status_code == 200 and r.json()["version"] == "3.0"


def test_a_readers_desktop_refuses_edits_at_once(fleet, tmp_path) -> None:
    from ota_desktop.errors import Forbidden

    server, token, db = fleet
    ProjectService(Store.open(db)).create_user("rita", "reader", password="s3cret-pass")
    m1 = new_mirror(tmp_path, "m1", server.url, "rita:s3cret-pass")
    sync(m1)
    with pytest.raises(Forbidden, match="reader"):
        mirror.apply_local(Store.open(m1), CreateCohort("nope"))
    assert mirror.outbox(Store.open(m1)) == []  # nothing queued that the server would refuse
    assert mirror.local_principal(Store.open(m1)).role == "reader"


def test_a_tokens_desktop_keeps_the_tokens_limits(fleet, tmp_path) -> None:
    from ota_desktop.errors import Forbidden

    server, _, db = fleet
    plain = ProjectService(Store.open(db)).create_token("ci")  # not permitted in protected
    m1 = new_mirror(tmp_path, "m1", server.url, plain)
    sync(m1)
    with pytest.raises(Forbidden, match="protected"):
        mirror.apply_local(Store.open(m1), Activate(R30, "default"))
    mirror.apply_local(Store.open(m1), Activate(R30, "beta"))
    assert sync(m1).pushed == 1
    [activation] = [a for a in Store.open(db).activation_history()
                    if a["release"] == "3.0"]
    assert (activation["cohort"], activation["activated_by"]) == ("beta", "")
