from __future__ import annotations

import json
from pathlib import Path

import pytest

from ota_desktop.errors import InvalidSnapshot
from ota_desktop.queries import matrix_for
from ota_desktop.snapshot import export_snapshot, import_snapshot, load, validate
from ota_desktop.store import Store


def _export(path: Path) -> dict:
    out = path.with_suffix(".json")
    with open(out, "w") as fh:
        export_snapshot(Store.open(path), fh)
    return json.loads(out.read_text())


def test_round_trip_keeps_the_matrix_and_staged_marks(small_demo: Path, tmp_path: Path) -> None:
    data = _export(small_demo)
    assert data["format"] == "ota-desktop/1"
    assert len(data["devices"]) == 981
    copy = Store.open(tmp_path / "copy.db")
    import_snapshot(copy, validate(data))
    original = Store.open(small_demo)
    for cohort in ("default", "beta"):
        assert matrix_for(copy, cohort, "main").to_json() == matrix_for(
            original, cohort, "main").to_json()
    assert _export(tmp_path / "copy.db") == data


def test_unknown_keys_are_ignored_and_defaults_apply() -> None:
    snap = validate({"format": "ota-desktop/1", "project": {"slug": "x"}, "extra": 1,
                     "devices": [{"serial": "A", "current_version": "1.0", "colour": "red"}]})
    assert snap.data["cohorts"][0]["slug"] == "default"
    assert snap.data["cohorts"][0]["protected"] is True
    assert snap.data["devices"][0]["cohort"] == "default"


BASE = {"format": "ota-desktop/1", "project": {"slug": "x", "version_scheme": "semver"},
        "software_types": ["main"],
        "cohorts": [{"slug": "default", "default": True}],
        "releases": [{"software_type": "main", "version": "1.0.0"}] * 1}


@pytest.mark.parametrize(("patch", "path"), [
    ({"releases": [{"software_type": "main", "version": "1.0.0"},
                   {"software_type": "main", "version": "1.0"}]}, "releases[1].version"),
    ({"releases": [{"software_type": "main", "version": "1.0.0"}] * 2}, "releases[1].version"),
    ({"releases": [{"software_type": "ble", "version": "1.0.0"}]}, "releases[0].software_type"),
    ({"delta_releases": [{"software_type": "main", "from_version": "2.0.0",
                          "to_version": "1.0.0"}]}, "delta_releases[0].to_version"),
    ({"activations": [{"release": {"software_type": "main", "version": "9.0.0"},
                       "cohort": "default"}]}, "activations[0].release.version"),
    ({"activations": [{"release": {"software_type": "main", "version": "1.0.0"},
                       "cohort": "default", "kind": "staged", "rollout_percent": 120}]},
     "activations[0].rollout_percent"),
    ({"cohorts": [{"slug": "a"}]}, "cohorts"),
    ({"devices": [{"serial": "A"}, {"serial": "A"}]}, "devices[1].serial"),
    ({"devices": [{"serial": "A", "attributes": {"hardware_version": 3}}]},
     "devices[0].attributes.hardware_version"),
    ({"format": "other/9"}, "format"),
])
def test_invalid_snapshots_name_the_first_bad_path(patch: dict, path: str) -> None:
    with pytest.raises(InvalidSnapshot) as info:
        validate({**BASE, **patch})
    assert info.value.path == path


def test_a_bad_file_leaves_the_database_exactly_as_it_was(small_demo: Path, tmp_path: Path) -> None:
    data = _export(small_demo)
    data["devices"][500]["cohort"] = "nowhere"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    before = small_demo.read_bytes()
    with pytest.raises(InvalidSnapshot, match=r"devices\[500\]\.cohort"):
        load(bad)
    assert small_demo.read_bytes() == before


def test_malformed_json_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": ')
    with pytest.raises(InvalidSnapshot, match="not valid JSON"):
        load(bad)
