"""Hostile bundles (from a QA pass): crafted archives, validly signed but malformed content,
races between imports, out-of-order check-ins, and exports aimed at the project itself. Each
is refused with a sentence and leaves the project as it was, or is taken correctly."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from ota_desktop import signing
from ota_desktop.artifacts import artifact_root
from ota_desktop.bundle import (
    BundleRefused,
    archive,
    export_checkins,
    export_releases,
    import_bundle,
    keys,
)
from ota_desktop.bundle.archive import read_bundle
from ota_desktop.bundle.releases import import_releases, release_key_for
from ota_desktop.errors import BadInput, OtaError
from ota_desktop.server.checkins import CheckIn, Feedback, write_batch
from ota_desktop.service import ProjectService
from ota_desktop.store import Store

from .test_bundles import export, hq, hq_fingerprint, hq_key, state  # noqa: F401


def members_of(path: Path) -> list[tuple[str, bytes]]:
    with tarfile.open(path, mode="r|") as tar:
        return [(m.name, tar.extractfile(m).read()) for m in tar]


def write_canonical(path: Path, members: list[tuple[str, bytes]]) -> None:
    """A tar laid out exactly as the bundle writer lays one out."""
    with open(path, "wb") as f, tarfile.open(fileobj=f, mode="w|",
                                             format=tarfile.USTAR_FORMAT) as tar:
        for name, data in members:
            tar.addfile(archive._header(name, len(data)), io.BytesIO(data))


def resign(source: Path, target: Path, key: signing.PrivateKey,
           edit: Callable[[dict[str, bytes]], None]) -> None:
    """Edit a bundle's members and sign the result properly with ``key``."""
    members = dict(members_of(source))
    manifest = json.loads(members.pop("manifest.json"))
    members.pop("manifest.sig")
    edit(members)
    manifest["members"] = [{"name": n, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()}
                           for n, d in members.items()]
    data = json.dumps(manifest).encode()
    signature = signing.sign(key, hashlib.sha256(data).hexdigest()).encode()
    write_canonical(target, [*members.items(), ("manifest.json", data),
                             ("manifest.sig", signature)])


@pytest.fixture
def station(hq: Path, tmp_path: Path) -> Path:  # noqa: F811
    path = tmp_path / "station.db"
    import_bundle(Store.open(path), export(hq, tmp_path / "first.otab"),
                  trust=hq_fingerprint(hq), station_name="line 3")
    return path


def test_a_bundle_is_never_written_over_the_project(hq: Path, tmp_path: Path) -> None:  # noqa: F811
    store = Store.open(hq)
    before = state(hq)
    for target in (hq, Path(f"{hq}-wal"), artifact_root(hq) / "x.otab"):
        with pytest.raises(BadInput, match="part of this project"):
            export_releases(store, target, hq_key(hq))
    other = tmp_path / "other.db"
    Store.open(other).close()
    with pytest.raises(BadInput, match="is a database"):
        export_releases(store, other, hq_key(hq))
    assert state(hq)[1] == before[1] and Store.open(hq).has_project()


def test_a_member_declaring_more_than_the_file_holds_is_refused_before_copying(
        station: Path, tmp_path: Path) -> None:
    info = tarfile.TarInfo("artifacts/" + "a" * 64)
    info.size = 8 * 10**9  # 8 GB, in a file of a few KB
    bomb = tmp_path / "bomb.otab"
    bomb.write_bytes(info.tobuf(tarfile.USTAR_FORMAT, "utf-8", "strict") + b"\0" * 4096)
    before = state(station)
    with pytest.raises(BundleRefused, match="declares more data than it holds"):
        import_bundle(Store.open(station), bomb)
    assert state(station) == before
    assert not list(artifact_root(station).glob(".bundle-*"))


def test_unsigned_crafted_manifests_are_sentences_not_tracebacks(station: Path,
                                                                 tmp_path: Path) -> None:
    cases = {
        "deep nesting": b"[" * 200_000,
        "station as a string": json.dumps({
            "format": archive.FORMAT, "kind": "checkins", "seq": 1, "members": [],
            "project": {"id": "x", "slug": "demo"}, "station": "line 3",
            "signer": {"public_pem": "x"}}).encode(),
        "seq too large": json.dumps({
            "format": archive.FORMAT, "kind": "releases", "seq": 2**70, "members": [],
            "project": {"id": "x", "slug": "demo"}, "signer": {"public_pem": "x"}}).encode(),
        "signer not a key": json.dumps({
            "format": archive.FORMAT, "kind": "releases", "seq": 3, "members": [],
            "project": {"id": "x", "slug": "demo"},
            "signer": {"public_pem": "not a key"}}).encode(),
    }
    before = state(station)
    for what, manifest in cases.items():
        crafted = tmp_path / "crafted.otab"
        write_canonical(crafted, [("manifest.json", manifest), ("manifest.sig", b"AAAA")])
        with pytest.raises(BundleRefused):
            import_bundle(Store.open(station), crafted)
        assert state(station) == before, what


def test_bytes_outside_the_signed_content_are_refused(hq: Path, tmp_path: Path) -> None:  # noqa: F811
    good = export(hq, tmp_path / "good.otab").read_bytes()
    fresh = tmp_path / "fresh.db"

    def with_header_field(data: bytes, start: int, value: bytes) -> bytes:
        block = bytearray(data[:512])
        block[start:start + len(value)] = value
        block[148:156] = b" " * 8  # recompute the header checksum, as a careful forger would
        block[148:156] = b"%06o\0 " % sum(block)
        return bytes(block) + data[512:]

    cases = {
        "header mtime": with_header_field(good, 136, b"14000000000\0"),
        "header owner name": with_header_field(good, 265, b"mallory\0"),
        "end blocks cut off": good[:good.rfind(b"manifest.sig") + 512 + 512],
        "a record of zeros more": good + b"\0" * tarfile.RECORDSIZE,
    }
    for what, data in cases.items():
        bad = tmp_path / "bad.otab"
        bad.write_bytes(data)
        with pytest.raises(BundleRefused):
            import_bundle(Store.open(fresh), bad, trust=hq_fingerprint(hq))
        assert not Store.open(fresh).has_project(), what


def test_validly_signed_but_malformed_content_is_refused(hq: Path, station: Path,  # noqa: F811
                                                         tmp_path: Path) -> None:
    newer = export(hq, tmp_path / "newer.otab")
    key = hq_key(hq)

    def config_edit(change: Callable[[dict], None]) -> Callable[[dict[str, bytes]], None]:
        def edit(members: dict[str, bytes]) -> None:
            config = json.loads(members["configuration.json"])
            change(config["tables"])
            members["configuration.json"] = json.dumps(config).encode()
        return edit

    def activation_to_nowhere(tables: dict) -> None:
        t = tables["activations"]
        t["rows"][0][t["columns"].index("cohort_id")] = 999

    def no_project(tables: dict) -> None:
        tables["project"]["rows"] = []

    def no_default(tables: dict) -> None:
        t = tables["cohorts"]
        for row in t["rows"]:
            row[t["columns"].index("is_default")] = 0

    def lone_surrogate(tables: dict) -> None:
        t = tables["releases"]
        t["rows"][0][t["columns"].index("notes")] = "\ud800"

    def duplicate_column(tables: dict) -> None:
        tables["software_types"]["columns"] = ["name", "name"]
        tables["software_types"]["rows"] = [["main", "main"]]

    def device_edit(row: list) -> Callable[[dict[str, bytes]], None]:
        def edit(members: dict[str, bytes]) -> None:
            members["devices.jsonl"] += json.dumps(row).encode() + b"\n"
        return edit

    def artifact_under_another_name(members: dict[str, bytes]) -> None:
        name = next(n for n in members if n.startswith("artifacts/"))
        members[name] = b"other content"

    cases = {
        "activation in a missing cohort": config_edit(activation_to_nowhere),
        "no project row": config_edit(no_project),
        "no default cohort": config_edit(no_default),
        "a lone surrogate": config_edit(lone_surrogate),
        "a column named twice": config_edit(duplicate_column),
        "device of an unknown software type": device_edit(
            ["X-1", "default", "nope", "1.0", "{}", 0]),
        "device with nested attributes": device_edit(
            ["X-2", "default", "main", "1.0", '{"a": {"b": 1}}', 0]),
        "device with staged 'yes'": device_edit(["X-3", "default", "main", "1.0", "{}", "yes"]),
        "device serial null": device_edit([None, "default", "main", "1.0", "{}", 0]),
        "payload named by another sha256": artifact_under_another_name,
    }
    before = state(station)
    for what, edit in cases.items():
        crafted = tmp_path / "crafted.otab"
        resign(newer, crafted, key, edit)
        with pytest.raises(BundleRefused) as refused:
            import_bundle(Store.open(station), crafted)
        assert "Traceback" not in str(refused.value), what
        assert state(station) == before, what
    import_bundle(Store.open(station), newer)  # the real one still goes in


def test_the_replay_check_holds_under_the_write_lock(hq: Path, station: Path,  # noqa: F811
                                                     tmp_path: Path) -> None:
    second = export(hq, tmp_path / "2.otab")
    third = export(hq, tmp_path / "3.otab")
    store = Store.open(station)
    # bundle 2 verified first, then bundle 3 taken before 2 is applied (two imports at once)
    verified = read_bundle(second, artifact_root(station), release_key_for(store, None))
    try:
        import_bundle(Store.open(station), third)
        with pytest.raises(BundleRefused, match="old or replayed"):
            import_releases(store, verified)
    finally:
        verified.cleanup()
    row = Store.open(station).db.execute("SELECT last_seq FROM bundle_source").fetchone()
    assert row[0] == 3


def test_a_project_with_its_own_signing_key_is_not_a_station(hq: Path,  # noqa: F811
                                                             tmp_path: Path) -> None:
    other = tmp_path / "other-hq.db"
    Store.open(hq).db.execute("VACUUM INTO ?", [str(other)])
    ProjectService(Store.open(other)).create_release("main", "9.9")
    other_store = Store.open(other)
    other_store.db.execute("UPDATE server_identity SET uuid = 'another-file'")
    before = state(other)
    with pytest.raises(BundleRefused, match="own signing key"):
        import_bundle(Store.open(other), export(hq, tmp_path / "b.otab"),
                      trust=hq_fingerprint(hq))
    assert state(other) == before


def test_trusting_another_fingerprint_later_is_refused(hq: Path, station: Path,  # noqa: F811
                                                       tmp_path: Path) -> None:
    with pytest.raises(BundleRefused, match="not that of the key this station trusts"):
        import_bundle(Store.open(station), export(hq, tmp_path / "2.otab"),
                      trust="0000 " * 16)


def test_a_station_keeps_what_its_own_devices_reported(hq: Path, station: Path,  # noqa: F811
                                                       tmp_path: Path) -> None:
    store = Store.open(station)
    serial = store.db.execute("SELECT serial FROM devices WHERE current_version = '0.9' "
                              "LIMIT 1").fetchone()[0]
    write_batch(store, [CheckIn(serial, "main", "2.0", {})])
    ProjectService(Store.open(hq)).create_cohort("line", "Line")
    ProjectService(Store.open(hq)).move_devices([serial], "line")
    import_bundle(Store.open(station), export(hq, tmp_path / "2.otab"))  # HQ: still 0.9
    device = Store.open(station).device(serial)
    assert device.current_version == "2.0"  # what the device said here
    assert Store.open(station).db.execute(  # HQ decides the cohort
        "SELECT c.slug FROM devices d JOIN cohorts c ON c.id = d.cohort_id WHERE serial = ?",
        [serial]).fetchone()[0] == "line"
    assert [v for _, v in Store.open(station).device_history(serial)] == ["2.0"]


def test_check_in_bundles_out_of_order_all_arrive(hq: Path, station: Path,  # noqa: F811
                                                  tmp_path: Path) -> None:
    store = Store.open(station)
    write_batch(store, [Feedback("F-1", "1", "deployment", "closed", "failure", None,
                                 ["only in bundle 1"])])
    first = tmp_path / "c1.otab"
    export_checkins(store, first)
    write_batch(store, [Feedback("F-1", "2", "deployment", "closed", "failure", None,
                                 ["only in bundle 2"])])
    second = tmp_path / "c2.otab"
    export_checkins(store, second)
    station_fp = keys(store).station_key
    import_bundle(Store.open(hq), second, trust=station_fp)
    import_bundle(Store.open(hq), first)  # older, but never taken: it is taken now
    details = [f["details"] for f in Store.open(hq).device_feedback("F-1")]
    assert sorted(details) == [["only in bundle 1"], ["only in bundle 2"]]
    with pytest.raises(BundleRefused, match="already taken"):
        import_bundle(Store.open(hq), first)


def test_check_ins_imported_on_a_station_say_where_they_belong(station: Path,
                                                              tmp_path: Path) -> None:
    store = Store.open(station)
    write_batch(store, [CheckIn("S-1", "main", "2.0", {})])
    back = tmp_path / "back.otab"
    export_checkins(store, back)
    with pytest.raises(BundleRefused, match="exported from this very file"):
        import_bundle(Store.open(station), back)
    with pytest.raises(BundleRefused, match="import it at HQ"):
        import_bundle(Store.open(tmp_path / "new.db"), back)


def test_a_failed_export_never_hands_its_number_out_again(hq: Path, tmp_path: Path,  # noqa: F811
                                                          monkeypatch) -> None:
    real = archive.os.replace

    def crash(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(archive.os, "replace", crash)
    with pytest.raises(OtaError, match="No space left"):
        export_releases(Store.open(hq), tmp_path / "1.otab", hq_key(hq))
    monkeypatch.setattr(archive.os, "replace", real)
    summary = export_releases(Store.open(hq), tmp_path / "2.otab", hq_key(hq))
    assert summary.seq == 2


def test_cli_refuses_with_exit_2_and_one_sentence(station: Path, tmp_path: Path) -> None:
    crafted = tmp_path / "crafted.otab"
    write_canonical(crafted, [("manifest.json", b"[" * 100_000), ("manifest.sig", b"A")])
    done = subprocess.run([sys.executable, "-m", "ota_desktop.cli", "bundle", "import",
                           "--db", str(station), str(crafted)], capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("ota-desktop: ") and "not JSON" in done.stderr


def test_names_that_could_mislead_the_trust_prompt_are_refused(hq: Path,  # noqa: F811
                                                               tmp_path: Path) -> None:
    key = signing.generate()
    manifest = json.dumps({
        "format": archive.FORMAT, "kind": "checkins", "seq": 1, "members": [],
        "project": {"id": Store.open(hq).db.execute(
            "SELECT uuid FROM server_identity").fetchone()[0], "slug": "demo"},
        "station": {"id": "s", "name": "line 3<br><br>0000 1111<!--"},
        "signer": {"public_pem": signing.public_pem(key)}}).encode()
    crafted = tmp_path / "crafted.otab"
    write_canonical(crafted, [("manifest.json", manifest), ("manifest.sig", signing.sign(
        key, hashlib.sha256(manifest).hexdigest()).encode())])
    with pytest.raises(BundleRefused, match="characters a name may not hold"):
        import_bundle(Store.open(hq), crafted)
    huge = tmp_path / "huge.otab"
    write_canonical(huge, [("manifest.json", b" " * (2 * 1024 * 1024)), ("manifest.sig", b"A")])
    with pytest.raises(BundleRefused, match="too large"):
        import_bundle(Store.open(hq), huge)


def test_a_failed_check_in_export_does_not_break_the_next_one(station: Path, tmp_path: Path,
                                                              monkeypatch) -> None:
    store = Store.open(station)
    write_batch(store, [CheckIn("S-1", "main", "2.0", {})])
    real = archive.os.replace
    monkeypatch.setattr(archive.os, "replace", lambda *a: (_ for _ in ()).throw(
        OSError(28, "No space left on device")))
    with pytest.raises(OtaError, match="No space left"):
        export_checkins(store, tmp_path / "full.otab")
    monkeypatch.setattr(archive.os, "replace", real)
    summary = export_checkins(store, tmp_path / "ok.otab")
    assert summary.devices == 1


def test_check_ins_a_device_server_could_not_have_written_are_refused(
        hq: Path, station: Path, tmp_path: Path) -> None:  # noqa: F811
    store = Store.open(station)
    write_batch(store, [CheckIn("S-1", "main", "2.0", {})])
    good = tmp_path / "good.otab"
    export_checkins(store, good)
    station_key = signing.load_private(store.db.execute(
        "SELECT private_pem FROM station_key").fetchone()[0], None)
    fp = keys(store).station_key

    def device(row: list) -> Callable[[dict[str, bytes]], None]:
        def edit(members: dict[str, bytes]) -> None:
            members["checkins/devices.jsonl"] += json.dumps(row).encode() + b"\n"
        return edit

    now = "2026-01-01T00:00:00.000+00:00"
    cases = {
        "unknown software type": ["EVIL-1", "default", "bogus", "1.0", "{}", now],
        "control characters": ["EVIL-2", "default", "main", "\u202e1.0\x00", "{}", now],
        "a time in the far future": ["EVIL-3", "default", "main", "1.0", "{}",
                                     "9999-12-31T00:00:00+00:00"],
        "an empty serial": ["", "default", "main", "1.0", "{}", now],
        "a numeric version": ["EVIL-4", "default", "main", 1, "{}", now],
    }
    before = state(hq)
    for what, row in cases.items():
        crafted = tmp_path / "crafted.otab"
        resign(good, crafted, station_key, device(row))
        with pytest.raises(BundleRefused):
            import_bundle(Store.open(hq), crafted, trust=fp)
        assert state(hq) == before, what
    import_bundle(Store.open(hq), good, trust=fp)  # the real one is taken


def test_a_project_of_its_own_becomes_a_station_only_when_confirmed(hq: Path,  # noqa: F811
                                                                    tmp_path: Path) -> None:
    from ota_desktop.bundle import NeedsReplace
    from ota_desktop.demo import write_demo

    mine = tmp_path / "mine.db"
    write_demo(Store.open(mine), scale=0.0001)
    ProjectService(Store.open(mine)).create_release("main", "7.7")
    bundle = export(hq, tmp_path / "b.otab")
    before = state(mine)
    with pytest.raises(NeedsReplace, match="release"):
        import_bundle(Store.open(mine), bundle, trust=hq_fingerprint(hq))
    assert state(mine) == before
    import_bundle(Store.open(mine), bundle, trust=hq_fingerprint(hq), replace=True)
    assert "7.7" not in {r.version for r in Store.open(mine).configuration().releases}


def test_a_later_import_can_rename_the_station(hq: Path, station: Path,  # noqa: F811
                                               tmp_path: Path) -> None:
    import_bundle(Store.open(station), export(hq, tmp_path / "2.otab"), station_name="line 9")
    assert keys(Store.open(station)).station_name == "line 9"
    with pytest.raises(BundleRefused, match="station name"):
        import_bundle(Store.open(station), export(hq, tmp_path / "3.otab"),
                      station_name="bad\x00name")


def test_trust_takes_the_whole_fingerprint_and_nothing_else(hq: Path,  # noqa: F811
                                                            tmp_path: Path) -> None:
    bundle = export(hq, tmp_path / "b.otab")
    full = hq_fingerprint(hq)
    for given in (full[:9], full + " (line 3)", "SHA256:" + full + "x"):
        with pytest.raises(BadInput, match="all 64 hex digits"):
            import_bundle(Store.open(tmp_path / "s.db"), bundle, trust=given)
    import_bundle(Store.open(tmp_path / "s.db"), bundle, trust=full.replace(" ", ":").upper())
