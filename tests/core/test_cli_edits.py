"""The editing subcommands, run as a script or factory station would."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from ota_desktop.cli import main
from ota_desktop.store import Store


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def matrix(capsys, db: Path, cohort: str) -> dict[str, dict[str, int]]:
    code, out, _ = run(capsys, "matrix", "--db", db, "--cohort", cohort, "--software-type",
                       "main", "--json")
    assert code == 0
    return {r["version"]: r["next"] for r in json.loads(out)["rows"]}


def test_release_payload_activate_flow_changes_the_matrix(small_demo: Path, tmp_path: Path,
                                                          capsys) -> None:
    db = small_demo
    assert run(capsys, "release", "create", "--db", db, "--software-type", "main",
               "--version", "2.3", "--revision", "abc123", "--notes", "fixes")[0] == 0
    image = tmp_path / "main-2.3.swu"
    image.write_bytes(b"firmware" * 100_000)
    code, out, _ = run(capsys, "payload", "add", "--db", db, "--software-type", "main",
                       "--version", "2.3", "--hardware-version", "evt", image, "--json")
    assert code == 0
    info = json.loads(out)
    assert info["sha256"] == hashlib.sha256(image.read_bytes()).hexdigest()
    assert info["size"] == 800_000
    stored = db.with_suffix(".artifacts") / info["sha256"][:2] / info["sha256"]
    assert stored.read_bytes() == image.read_bytes()

    code, out, _ = run(capsys, "activate", "--db", db, "--cohort", "default",
                       "--software-type", "main", "--version", "2.3", "--dry-run")
    whatif = json.loads(out)
    # 0.9 and 1.1 now jump straight to 2.3, 2.1 stops staying; 2.0 keeps its Delta
    assert whatif["devices_moved"] == 21 + 36 + 738
    assert {(c["row"], c["column"], c["before"], c["after"]) for c in whatif["cells"]} == {
        ("0.9", "2.0", 21, 0), ("0.9", "2.3", 0, 21), ("1.1", "2.0", 36, 0),
        ("1.1", "2.3", 0, 36), ("2.1", "2.1", 738, 0), ("2.1", "2.3", 0, 738)}
    assert matrix(capsys, db, "default")["2.1"] == {"2.1": 738}  # dry run changed nothing
    assert run(capsys, "activate", "--db", db, "--cohort", "default", "--software-type", "main",
               "--version", "2.3")[0] == 0
    assert matrix(capsys, db, "default")["2.1"] == {"2.3": 738}

    code, out, _ = run(capsys, "history", "--db", db, "--json")
    last = json.loads(out)[-1]
    assert (last["release"], last["cohort"], last["kind"], last["status"], last["activated_by"]) == (
        "2.3", "default", "normal", "active", "cli")


def test_staged_activation_dry_run_equals_the_applied_counts(small_demo: Path, capsys) -> None:
    db = small_demo
    run(capsys, "release", "create", "--db", db, "--software-type", "main", "--version", "3.0")
    run(capsys, "payload", "add", "--db", db, "--software-type", "main", "--version", "3.0",
        "--hardware-version", "evt", Path(__file__))
    args = ["activate", "--db", db, "--cohort", "default", "--software-type", "main",
            "--version", "3.0", "--rollout-percent", "30", "--seed", "77"]
    whatif = json.loads(run(capsys, *args, "--dry-run")[1])
    assert run(capsys, *args)[0] == 0
    after = matrix(capsys, db, "default")
    for cell in whatif["cells"]:
        assert after[cell["row"]].get(cell["column"], 0) == cell["after"]
    staged = sum(after[v].get("3.0", 0) for v in after)
    assert staged == whatif["devices_moved"] > 0


def test_rollout_raise_and_deactivate(small_demo: Path, capsys) -> None:
    db = small_demo
    ref = ["--software-type", "main", "--from", "2.1", "--to", "2.2"]
    assert run(capsys, "rollout", "--db", db, "--cohort", "beta", *ref,
               "--rollout-percent", "50")[0] == 0
    assert matrix(capsys, db, "beta")["2.1"] == {"2.1": 27, "2.2": 27}
    assert run(capsys, "deactivate", "--db", db, "--cohort", "beta", *ref)[0] == 0
    assert matrix(capsys, db, "beta")["2.1"] == {"2.1": 54}


def test_cohort_create_update_and_device_move_from_a_csv(small_demo: Path, tmp_path, capsys) -> None:
    db = small_demo
    assert run(capsys, "cohort", "create", "--db", db, "--slug", "rollback", "--name", "Rollback",
               "--disable-version-checking", "--unprotected")[0] == 0
    csv = tmp_path / "serials.csv"
    csv.write_text("serial,note\nDEF-21-000001,x\nDEF-21-000002,y\nGHOST-1,z\n")
    code, out, _ = run(capsys, "device", "move", "--db", db, "--cohort", "rollback",
                       "--from-file", csv, "--json")
    assert json.loads(out) == {"moved": 2, "already": 0, "unknown": ["GHOST-1"]}
    run(capsys, "activate", "--db", db, "--cohort", "rollback", "--software-type", "main",
        "--version", "1.0")
    assert matrix(capsys, db, "rollback") == {"2.1": {"1.0": 2}}  # downgrade: checking is off
    run(capsys, "cohort", "update", "--db", db, "--slug", "rollback", "--enable-version-checking")
    assert matrix(capsys, db, "rollback") == {"2.1": {"2.1": 2}}
    cohort = Store.open(db).configuration().cohort("rollback")
    assert cohort is not None and not cohort.protected


def test_key_create_prints_a_key_that_overrides(small_demo: Path, capsys) -> None:
    code, out, _ = run(capsys, "key", "create", "--db", small_demo, "--cohort-override", "beta")
    key = out.strip()
    assert code == 0 and len(key) == 32
    code, out, _ = run(capsys, "resolve", "--db", small_demo, "--device-serial", "DEF-09-000000",
                       "--project-key", key, "--json")
    assert json.loads(out)["effective_cohort"] == "beta"


@pytest.mark.parametrize(("args", "message"), [
    (["delta", "create", "--software-type", "main", "--from", "2.2", "--to", "2.1"],
     "delta downgrades are not supported"),
    (["release", "create", "--software-type", "main", "--version", "2.0"], "already exists"),
    (["release", "create", "--software-type", "main", "--version", "bad version"],
     "not a valid natural version"),
    (["release", "create", "--software-type", "ble", "--version", "1.0"], "no software type"),
    (["release", "delete", "--software-type", "main", "--version", "2.0"],
     "still active in cohort default"),
    (["activate", "--cohort", "default", "--software-type", "main", "--version", "2.0"],
     "already active"),
    (["activate", "--cohort", "nowhere", "--software-type", "main", "--version", "1.1"],
     "no cohort 'nowhere'"),
    (["activate", "--cohort", "default", "--software-type", "main", "--version", "1.1",
      "--rollout-percent", "0"], "above 0"),
    (["activate", "--cohort", "default", "--software-type", "main"], "Name the release"),
    (["deactivate", "--cohort", "beta", "--software-type", "main", "--version", "1.1"],
     "not active in cohort"),
    (["payload", "add", "--software-type", "main", "--version", "9.9", "--hardware-version", "evt",
      "/etc/hostname"], "no Full release 9.9"),
    (["payload", "add", "--software-type", "main", "--version", "1.1", "--hardware-version", "evt",
      "/nonexistent/file"], "not a readable file"),
    (["device", "move", "--cohort", "beta"], "Name the devices"),
    (["cohort", "update", "--slug", "beta", "--polling-interval", "0"], "polling interval"),
])
def test_bad_edits_exit_2_with_a_sentence_and_change_nothing(small_demo: Path, capsys, args,
                                                            message) -> None:
    before = Store.open(small_demo).operations(limit=1)[0]["id"]
    code, out, err = run(capsys, *args[:2], "--db", small_demo, *args[2:]) if args[0] in (
        "delta", "release", "payload", "device", "cohort") else run(capsys, args[0], "--db",
                                                                    small_demo, *args[1:])
    assert code == 2, err
    assert message in err and "Traceback" not in err
    assert Store.open(small_demo).operations(limit=1)[0]["id"] == before
