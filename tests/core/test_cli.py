from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ota_desktop.cli import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_matrix_json_prints_the_demo_figures(demo_db: Path, capsys) -> None:
    code, out, _ = run(capsys, "matrix", "--db", str(demo_db), "--cohort", "default",
                       "--software-type", "main", "--json")
    assert code == 0
    data = json.loads(out)
    assert [(r["version"], r["total"], r["next"]) for r in data["rows"]] == [
        ("0.9", 21000, {"2.0": 21000}), ("1.1", 36000, {"2.0": 36000}),
        ("2.0", 132000, {"2.1": 132000}), ("2.1", 738000, {"2.1": 738000})]
    assert data["final_targets"] == ["2.1"]
    code, out, _ = run(capsys, "matrix", "--db", str(demo_db), "--cohort", "beta",
                       "--software-type", "main", "--json")
    assert json.loads(out)["rows"][0]["next"] == {"2.1": 48060, "2.2": 5940}


@pytest.mark.parametrize(("serial", "kind", "version"), [
    ("DEF-09-000001", "full", "2.0"),
    ("DEF-11-000001", "full", "2.0"),
    ("DEF-20-000001", "delta", "2.1"),
    ("DEF-21-000001", None, None),
])
def test_resolve_explains_a_device_from_each_row(demo_db: Path, capsys, serial, kind, version) -> None:
    code, out, _ = run(capsys, "resolve", "--db", str(demo_db), "--device-serial", serial, "--json")
    assert code == 0
    data = json.loads(out)
    assert (data["kind"], data["version"], data["update"]) == (kind, version, kind is not None)
    assert data["reason"] and data["trace"]
    assert set(data) >= {"update", "kind", "version", "from_version", "must_pass_through",
                         "payload", "reason", "trace"}


def test_resolve_staged_beta_device_and_explicit_fields_override(small_demo: Path, capsys) -> None:
    from ota_desktop.store import Store

    staged = Store.open(small_demo).db.execute(
        "SELECT serial FROM devices WHERE staged = 1").fetchone()[0]
    _, out, _ = run(capsys, "resolve", "--db", str(small_demo), "--device-serial", staged, "--json")
    assert json.loads(out)["version"] == "2.2"
    _, out, _ = run(capsys, "resolve", "--db", str(small_demo), "--device-serial", "DEF-09-000000",
                    "--hardware-version", "dvt", "--json")
    assert json.loads(out)["update"] is False  # no payload for dvt
    _, out, _ = run(capsys, "resolve", "--db", str(small_demo), "--device-serial", "BET-21-000000",
                    "--project-key", "factory-recovery", "--current-version", "2.0")
    assert "Delta 2.0→2.1" in out and "overrides the cohort" in out


def test_versions_sorts_and_names_an_invalid_one(capsys) -> None:
    code, out, _ = run(capsys, "versions", "--scheme", "natural", "1.0.20", "1.0.1", "1.0.0rc1")
    assert (code, out.split()) == (0, ["1.0.0rc1", "1.0.1", "1.0.20"])
    code, _, err = run(capsys, "versions", "--scheme", "semver", "1.0.0", "1.0")
    assert code == 2 and "'1.0' is not a valid semver version" in err


def test_import_of_a_bad_file_exits_2_names_the_path_and_changes_nothing(
        small_demo: Path, tmp_path: Path, capsys) -> None:
    out_file = tmp_path / "snap.json"
    assert run(capsys, "export", "--db", str(small_demo), str(out_file))[0] == 0
    data = json.loads(out_file.read_text())
    data["releases"][2]["version"] = ""
    out_file.write_text(json.dumps(data))
    before = small_demo.read_bytes()
    code, _, err = run(capsys, "import", "--db", str(small_demo), str(out_file))
    assert code == 2 and "releases[2].version" in err
    assert small_demo.read_bytes() == before


def test_missing_project_file_is_a_clear_error(tmp_path: Path, capsys) -> None:
    code, _, err = run(capsys, "matrix", "--db", str(tmp_path / "nope.db"), "--cohort", "x",
                       "--software-type", "main")
    assert code == 2 and "There is no project file" in err
    assert not (tmp_path / "nope.db").exists()


def test_unknown_cohort_exits_2(small_demo: Path, capsys) -> None:
    code, _, err = run(capsys, "matrix", "--db", str(small_demo), "--cohort", "gamma",
                       "--software-type", "main")
    assert code == 2 and "no cohort 'gamma'" in err


def test_demo_refuses_to_overwrite_without_force(small_demo: Path, capsys) -> None:
    code, _, err = run(capsys, "demo", "--db", str(small_demo))
    assert code == 2 and "--force" in err


def test_the_installed_entry_point_runs(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "ota_desktop", "versions", "2.0", "1.10", "1.9"],
                            capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["1.9", "1.10", "2.0"]


def _sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(("text", "where"), [
    ('"serial": "\\ud800"', "devices[0].serial"),
    ('"serial": "A\\u0000B"', "devices[0].serial"),
    ('"size": 9223372036854775808', "size"),
    ('"size": ' + "9" * 5000, "not a usable JSON document"),
    ('"cohort_override": ["default"]', "project_keys[0].cohort_override"),
])
def test_hostile_snapshot_values_are_refused_cleanly(small_demo: Path, tmp_path: Path, capsys,
                                                     text: str, where: str) -> None:
    key, _, value = text.partition(": ")
    doc = {"format": "ota-desktop/1", "project": {"slug": "x"},
           "releases": [{"version": "1.0", "payloads": [{"filename": "f", "size": 1}]}],
           "project_keys": [{"key": "k", "cohort_override": None}],
           "devices": [{"serial": "A", "current_version": "1.0"}]}
    raw = json.dumps(doc)
    field = key.strip('"')
    target = {"serial": '"serial": "A"', "size": '"size": 1',
              "cohort_override": '"cohort_override": null'}[field]
    bad = tmp_path / "bad.json"
    bad.write_text(raw.replace(target, f'"{field}": {value}'))
    before = _sha(small_demo)
    code, _, err = run(capsys, "import", "--db", str(small_demo), str(bad))
    assert code == 2 and where in err and "Traceback" not in err
    assert _sha(small_demo) == before


def test_deeply_nested_json_is_refused(small_demo: Path, tmp_path: Path, capsys) -> None:
    bad = tmp_path / "deep.json"
    bad.write_text("[" * 100_000)
    code, _, err = run(capsys, "import", "--db", str(small_demo), str(bad))
    assert code == 2 and ("nested too deeply" in err or "not valid JSON" in err)


def test_a_bom_is_accepted(small_demo: Path, tmp_path: Path, capsys) -> None:
    snap = tmp_path / "s.json"
    assert run(capsys, "export", "--db", str(small_demo), str(snap))[0] == 0
    snap.write_bytes(b"\xef\xbb\xbf" + snap.read_bytes())
    assert run(capsys, "import", "--db", str(tmp_path / "new.db"), str(snap))[0] == 0


def test_a_foreign_sqlite_file_is_refused_and_left_untouched(tmp_path: Path, capsys) -> None:
    import sqlite3

    foreign = tmp_path / "other.db"
    con = sqlite3.connect(foreign)
    con.execute("CREATE TABLE notes (text)")
    con.commit()
    con.close()
    before = _sha(foreign)
    code, _, err = run(capsys, "matrix", "--db", str(foreign), "--cohort", "default",
                       "--software-type", "main")
    assert code == 2 and "belongs to another program" in err
    assert _sha(foreign) == before


@pytest.mark.parametrize("args", [
    ["matrix", "--db", "{tmp}/missing.db", "--cohort", "default", "--software-type", "main"],
    ["matrix", "--db", "{tmp}", "--cohort", "default", "--software-type", "main"],
    ["demo", "--db", "{tmp}/no/such/folder/x.db"],
    ["import", "--db", "{tmp}/x.db", "{tmp}/missing.json"],
    ["import", "--db", "{tmp}/x.db", "{tmp}"],
    ["demo", "--db", "{tmp}/y.db", "--scale", "nan"],
    ["matrix", "--db", "{demo}", "--cohort", "\udcff", "--software-type", "main"],
    ["resolve", "--db", "{demo}", "--device-serial", "\udcff"],
    ["export", "--db", "{demo}", "{tmp}"],
])
def test_bad_paths_and_arguments_exit_2_without_a_traceback(small_demo: Path, tmp_path: Path,
                                                            capsys, args: list[str]) -> None:
    filled = [a.format(tmp=tmp_path, demo=small_demo) for a in args]
    code, _, err = run(capsys, *filled)
    assert code == 2, err
    assert err.startswith("ota-desktop: ") and "Traceback" not in err
    assert not list(tmp_path.glob("*.part"))
