"""Signed offline bundles: releases out to a station, check-ins back; every tampered,
truncated, foreign or replayed bundle is refused whole and leaves the project as it was."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ota_desktop import signing
from ota_desktop.artifacts import artifact_root
from ota_desktop.bundle import (
    BundleRefused,
    export_checkins,
    export_releases,
    fingerprint,
    import_bundle,
    keys,
)
from ota_desktop.demo import write_demo
from ota_desktop.model import ReleaseRef
from ota_desktop.queries import matrix_for
from ota_desktop.server.checkins import ActionOffered, CheckIn, Feedback, write_batch
from ota_desktop.service import ProjectService
from ota_desktop.store import Store
from tests.server.conftest import add_file_payload

PASS = "correct horse battery"
FIRMWARE = b"\x7fELF full image 2.0 " * 5000


@pytest.fixture
def hq(small_demo: Path) -> Path:
    add_file_payload(small_demo, ReleaseRef("main", version="2.0"), FIRMWARE, "main-2.0.swu")
    ProjectService(Store.open(small_demo)).create_signing_key(PASS)
    return small_demo


def hq_key(path: Path) -> signing.PrivateKey:
    return ProjectService(Store.open(path)).signing_key(PASS)


def hq_fingerprint(path: Path) -> str:
    fp = keys(Store.open(path)).signing_key
    assert fp is not None
    return fp


def export(path: Path, target: Path) -> Path:
    export_releases(Store.open(path), target, hq_key(path))
    return target


def state(path: Path) -> tuple[str, list[str]]:
    """Everything a refused import must leave alone: the database and the artifact files."""
    store = Store.open(path)
    dump = "\n".join(store.db.conn.iterdump())
    store.close()
    root = artifact_root(path)
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []
    return dump, files


def matrix(path: Path, cohort: str = "default") -> dict:
    store = Store.open(path)
    return matrix_for(store, cohort, "main", store.configuration()).to_json()


def test_a_station_takes_the_projects_releases_fleet_and_files(hq: Path, tmp_path: Path) -> None:
    bundle = export(hq, tmp_path / "out.otab")
    station = tmp_path / "station.db"
    with pytest.raises(BundleRefused, match="fingerprint"):
        import_bundle(Store.open(station), bundle)  # the first one needs the key confirmed
    progress: list[tuple[int, int]] = []
    summary = import_bundle(Store.open(station), bundle, trust=hq_fingerprint(hq),
                            station_name="line 3", progress=lambda d, t: progress.append((d, t)))
    assert summary.seq == 1 and summary.files == 1 and summary.devices == 981
    assert progress[-1][0] == progress[-1][1] == bundle.stat().st_size
    assert matrix(station) == matrix(hq) and matrix(station, "beta") == matrix(hq, "beta")
    store = Store.open(station)
    config = store.configuration()
    payload = config.find_release(ReleaseRef("main", version="2.0")).payloads[0]
    assert (artifact_root(station) / payload.sha256[:2] / payload.sha256).read_bytes() == FIRMWARE
    staged = store.db.execute("SELECT count(*) FROM devices WHERE staged = 1").fetchone()[0]
    hq_staged = Store.open(hq).db.execute(
        "SELECT count(*) FROM devices WHERE staged = 1").fetchone()[0]
    assert staged == hq_staged > 0
    found = keys(store)
    assert found.trusted_project == hq_fingerprint(hq) and found.station_name == "line 3"
    assert found.station_key is not None and found.signing_key is None
    # no stray work files are left in the station's artifact folder
    assert not list(artifact_root(station).glob(".bundle-*"))


def test_a_newer_bundle_replaces_the_stations_configuration(hq: Path, tmp_path: Path) -> None:
    station = tmp_path / "station.db"
    import_bundle(Store.open(station), export(hq, tmp_path / "1.otab"), trust=hq_fingerprint(hq))
    ProjectService(Store.open(hq)).activate(ReleaseRef("main", version="1.1"), "default")
    second = import_bundle(Store.open(station), export(hq, tmp_path / "2.otab"))
    assert second.seq == 2
    assert matrix(station) == matrix(hq)
    assert activations(station) == activations(hq)
    assert ("1.1", "default", "active") in activations(station)


def activations(path: Path) -> list[tuple[str, str, str]]:
    return sorted(Store.open(path).db.execute(
        "SELECT r.version, c.slug, a.status FROM activations a JOIN releases r ON "
        "r.id = a.release_id JOIN cohorts c ON c.id = a.cohort_id").fetchall())


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]


def test_tampered_truncated_and_garbage_bundles_are_refused_whole(hq: Path,
                                                                   tmp_path: Path) -> None:
    good = export(hq, tmp_path / "good.otab").read_bytes()
    station = tmp_path / "station.db"
    trust = hq_fingerprint(hq)
    import_bundle(Store.open(station), export(hq, tmp_path / "first.otab"), trust=trust)
    ProjectService(Store.open(hq)).activate(ReleaseRef("main", version="1.1"), "default")
    newer = export(hq, tmp_path / "newer.otab").read_bytes()
    before = state(station)
    manifest_at = newer.rfind(b'"members"')
    cases = {
        "first header byte": _flip(newer, 0),
        "a header checksum": _flip(newer, 150),
        "the configuration": _flip(newer, 700),
        "the firmware": _flip(newer, newer.find(FIRMWARE[:64]) + 1000),
        "the manifest": _flip(newer, manifest_at + 30),
        "the signature": _flip(newer, newer.rfind(b"manifest.sig") + 600),
        "truncated at half": newer[: len(newer) // 2],
        "truncated before the signature": newer[: newer.rfind(b"manifest.sig") - 10],
        "truncated by one block": newer[:-1024 * 10 - 512],
        "empty": b"",
        "garbage": b"not a bundle at all" * 100,
    }
    for what, data in cases.items():
        bad = tmp_path / "bad.otab"
        bad.write_bytes(data)
        try:
            import_bundle(Store.open(station), bad)
        except BundleRefused as refused:
            assert str(refused)
        else:
            pytest.fail(f"{what}: taken")
        assert state(station) == before, what
    # the good newer bundle still goes in afterwards
    import_bundle(Store.open(station), tmp_path / "newer.otab")
    assert good  # (the first export also stays valid on disk)


def test_replayed_foreign_and_wrong_key_bundles_are_refused(hq: Path, tmp_path: Path) -> None:
    station = tmp_path / "station.db"
    first = export(hq, tmp_path / "1.otab")
    second = export(hq, tmp_path / "2.otab")
    import_bundle(Store.open(station), second, trust=hq_fingerprint(hq))
    before = state(station)
    with pytest.raises(BundleRefused, match="old or replayed"):
        import_bundle(Store.open(station), first)
    with pytest.raises(BundleRefused, match="old or replayed"):
        import_bundle(Store.open(station), second)  # the same one again
    # another project with the same slug, its own key
    other = tmp_path / "other.db"
    write_demo(Store.open(other), scale=0.001)
    ProjectService(Store.open(other)).create_signing_key(PASS)
    with pytest.raises(BundleRefused, match="another project"):
        import_bundle(Store.open(station), export(other, tmp_path / "other.otab"))
    # a bundle re-signed by another key after editing it
    forged = tmp_path / "forged.otab"
    shutil.copy(tmp_path / "2.otab", forged)
    data = bytearray(forged.read_bytes())
    at = data.rfind(b'"seq": 2')
    data[at:at + 8] = b'"seq": 9'
    forged.write_bytes(bytes(data))
    with pytest.raises(BundleRefused, match="signature does not verify"):
        import_bundle(Store.open(station), forged)
    assert state(station) == before
    # a first import that trusts the wrong fingerprint
    fresh = tmp_path / "fresh.db"
    with pytest.raises(BundleRefused, match="another key than the one you trusted"):
        import_bundle(Store.open(fresh), second, trust=fingerprint(
            signing.public_pem(signing.generate())))
    assert not Store.open(fresh).has_project()


def test_check_ins_travel_back_and_hq_shows_them(hq: Path, tmp_path: Path) -> None:
    station = tmp_path / "station.db"
    import_bundle(Store.open(station), export(hq, tmp_path / "out.otab"),
                  trust=hq_fingerprint(hq), station_name="line 3")
    store = Store.open(station)
    old = store.db.execute("SELECT serial, current_version FROM devices WHERE "
                           "current_version = '1.1' LIMIT 1").fetchone()
    write_batch(store, [
        CheckIn("factory-0001", "main", "2.0", {"hardware_version": "evt"}),
        ActionOffered("7", old[0], "main 2.0", "2.0", None),
        Feedback(old[0], "7", "deployment", "closed", "success", None, ["installed"],
                 new_version="2.0"),
        Feedback("factory-0001", "8", "deployment", "closed", "failure", None, ["bad flash"]),
    ])
    back = tmp_path / "back.otab"
    summary = export_checkins(store, back)
    assert (summary.devices, summary.versions, summary.feedback) == (2, 2, 2)
    hq_store = Store.open(hq)
    before = state(hq)
    station_fp = keys(store).station_key
    with pytest.raises(BundleRefused, match="not trusted yet"):
        import_bundle(hq_store, back)
    assert state(hq) == before
    taken = import_bundle(Store.open(hq), back, trust=station_fp)
    assert taken.devices == 2 and taken.feedback == 2
    hq_store = Store.open(hq)
    assert hq_store.device("factory-0001").current_version == "2.0"
    assert hq_store.device(old[0]).current_version == "2.0"
    assert [v for _, v in hq_store.device_history(old[0])][-1] == "2.0"
    assert [f["finished"] for f in hq_store.device_feedback("factory-0001")] == ["failure"]
    assert keys(hq_store).trusted_stations == [("line 3", station_fp, 1)]
    assert hq_store.operations(1)[0]["kind"] == "bundle.checkins"
    # the same bundle again: replayed
    with pytest.raises(BundleRefused, match="already taken"):
        import_bundle(Store.open(hq), back)
    # the next bundle carries only what is new (plus a minute of overlap, harmlessly)
    write_batch(store, [CheckIn("factory-0002", "main", "2.0", {})])
    again = export_checkins(store, tmp_path / "back2.otab")
    assert again.seq == 2 and again.versions == 1 and again.feedback == 0
    import_bundle(Store.open(hq), tmp_path / "back2.otab")
    hq_store = Store.open(hq)
    assert hq_store.device("factory-0002") is not None
    assert len(hq_store.device_feedback("factory-0001")) == 1  # not doubled by the overlap


def test_check_ins_for_another_project_or_tampered_are_refused(hq: Path, tmp_path: Path) -> None:
    station = tmp_path / "station.db"
    import_bundle(Store.open(station), export(hq, tmp_path / "out.otab"),
                  trust=hq_fingerprint(hq))
    write_batch(Store.open(station), [CheckIn("factory-0001", "main", "2.0", {})])
    back = tmp_path / "back.otab"
    export_checkins(Store.open(station), back)
    station_fp = keys(Store.open(station)).station_key
    other = tmp_path / "other.db"
    write_demo(Store.open(other), scale=0.001)
    before = state(other)
    with pytest.raises(BundleRefused, match="another project"):
        import_bundle(Store.open(other), back, trust=station_fp)
    assert state(other) == before
    data = back.read_bytes()
    bad = tmp_path / "bad.otab"
    bad.write_bytes(_flip(data, data.find(b"factory-0001") + 3))
    before = state(hq)
    with pytest.raises(BundleRefused):
        import_bundle(Store.open(hq), bad, trust=station_fp)
    assert state(hq) == before


def test_export_refuses_a_payload_file_that_changed_on_disk(hq: Path, tmp_path: Path) -> None:
    store = Store.open(hq)
    sha = store.configuration().find_release(ReleaseRef("main", version="2.0")).payloads[0].sha256
    path = artifact_root(hq) / sha[:2] / sha
    path.write_bytes(FIRMWARE[:-1] + b"!")
    target = tmp_path / "out.otab"
    with pytest.raises(Exception, match="does not match its recorded sha256"):
        export_releases(store, target, hq_key(hq))
    assert not target.exists() and not Path(f"{target}.part").exists()
    assert json.loads(json.dumps(keys(store).trusted_stations)) == []


def test_failures_a_station_saw_pause_the_rollout_at_hq(hq: Path, tmp_path: Path) -> None:
    from ota_desktop.model import RolloutGuard

    r20 = ReleaseRef("main", version="2.0")
    ProjectService(Store.open(hq)).set_guard(r20, "default", RolloutGuard(failures=2))
    station = tmp_path / "station.db"
    import_bundle(Store.open(station), export(hq, tmp_path / "out.otab"),
                  trust=hq_fingerprint(hq))
    store = Store.open(station)
    payload = store.configuration().find_release(r20).payloads[0].id
    serials = [r[0] for r in store.db.execute(
        "SELECT serial FROM devices d JOIN cohorts c ON c.id = d.cohort_id "
        "WHERE c.slug = 'default' AND current_version = '1.1' LIMIT 2")]
    for i, serial in enumerate(serials):
        write_batch(store, [ActionOffered(f"a{i}", serial, "Full 2.0", "2.0", payload),
                            Feedback(serial, f"a{i}", "deployment", "closed", "failure",
                                     None, ["flash failed"])])
    back = tmp_path / "back.otab"
    export_checkins(store, back)
    taken = import_bundle(Store.open(hq), back, trust=keys(store).station_key)
    assert taken.paused and "2 failures ≥ 2" in taken.paused[0]
    row = Store.open(hq).db.execute(
        "SELECT a.paused_reason FROM activations a JOIN releases r ON r.id = a.release_id "
        "JOIN cohorts c ON c.id = a.cohort_id WHERE r.version = '2.0' AND c.slug = 'default'"
    ).fetchone()
    assert row[0] and "2 failures ≥ 2" in row[0]
