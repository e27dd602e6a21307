"""Rollout guards: failures counted per activation, pause at the threshold, resume, undo."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from ota_desktop.changes import Activate, Resume, SetGuard
from ota_desktop.errors import BadInput, RuleViolation
from ota_desktop.guard import verdict
from ota_desktop.model import ReleaseRef, RolloutGuard
from ota_desktop.queries import decide_for_device, matrix_for
from ota_desktop.resolver import resolve
from ota_desktop.server.checkins import ActionOffered, Feedback, write_batch
from ota_desktop.service import ProjectService
from ota_desktop.store import Store
from ota_desktop.sync.mirror import apply_local, revert_local
from ota_desktop.sync.wire import change_from_json, change_to_json

from .builders import config, delta, device, full, on, query

R20 = ReleaseRef("main", version="2.0")
D20_21 = ReleaseRef("main", from_version="2.0", to_version="2.1")


@pytest.fixture
def demo(small_demo: Path) -> tuple[Store, ProjectService]:
    store = Store.open(small_demo)
    return store, ProjectService(store, actor="alice")


def report(store: Store, serials: list[str], ref: ReleaseRef = R20, *,
           failed: bool = True, execution: str = "closed") -> None:
    """The hawkBit flow's records, as the device server writes them: the action offered
    (deploymentBase), then the device's final feedback."""
    release = store.configuration().find_release(ref)
    assert release is not None and release.payloads
    events: list = []
    for serial in serials:
        action = f"a-{serial}-{ref.label}"
        target = ref.version or ref.to_version
        events.append(ActionOffered(action, serial, release.label, str(target),
                                    release.payloads[0].id))
        events.append(Feedback(serial, action, "deployment", execution,
                               "failure" if failed else "success", None, [],
                               None if failed else target))
    write_batch(store, events)


def paused(store: Store, ref: ReleaseRef = R20, cohort: str = "default") -> str | None:
    return next(a.paused for a in store.configuration().activations_in(cohort)
                if a.release == ref and a.status == "active")


def serials(prefix: str, n: int, start: int = 0) -> list[str]:
    return [f"{prefix}-{i:06d}" for i in range(start, start + n)]


def test_verdict_count_and_percent_with_a_minimum() -> None:
    count = RolloutGuard(failures=10)
    assert verdict(count, 9, 9) is None
    assert verdict(count, 10, 10) == "paused by rollout guard: 10 failures ≥ 10"
    share = RolloutGuard(percent=5, min_reports=40)
    assert verdict(share, 1, 1) is None  # one failure of one device is not 100 %
    assert verdict(share, 1, 39) is None
    assert verdict(share, 2, 40) == ("paused by rollout guard: 2 of 40 reporting devices "
                                     "failed (5.0% ≥ 5%)")
    assert verdict(share, 1, 40) is None  # 2.5 %


def test_the_threshold_pauses_exactly_at_n_not_at_n_minus_1(demo) -> None:
    store, service = demo
    service.set_guard(R20, "default", RolloutGuard(failures=10))
    report(store, serials("DEF-09", 9))
    assert paused(store) is None
    report(store, serials("DEF-09", 1, start=9))
    assert paused(store) == "paused by rollout guard: 10 failures ≥ 10"
    (op,) = [o for o in store.operations(5) if o["kind"] == "activation.pause"]
    assert op["actor"] == "rollout guard" and op["entity"] == "activation:default/2.0"


def test_a_device_that_fails_repeatedly_counts_once(demo) -> None:
    store, service = demo
    service.set_guard(R20, "default", RolloutGuard(failures=3))
    for _ in range(5):
        report(store, ["DEF-09-000001", "DEF-09-000002"])
    assert paused(store) is None
    report(store, ["DEF-11-000001"])
    assert paused(store) is not None


def test_percent_counts_only_after_the_minimum_number_of_reports(demo) -> None:
    store, service = demo
    service.set_guard(R20, "default", RolloutGuard(percent=10, min_reports=20))
    report(store, serials("DEF-09", 1))  # 1 of 1 failed: 100 %, but only one report
    report(store, serials("DEF-09", 10, start=1), failed=False)
    assert paused(store) is None
    report(store, serials("DEF-11", 8), failed=False)  # 19 reports
    assert paused(store) is None
    report(store, serials("DEF-11", 1, start=8))  # 20 reports, 2 failed: 10 %
    assert paused(store) == ("paused by rollout guard: 2 of 20 reporting devices failed "
                             "(10.0% ≥ 10%)")


def test_other_cohorts_releases_and_unfinished_feedback_do_not_count(demo) -> None:
    store, service = demo
    service.activate(R20, "beta")
    service.set_guard(R20, "default", RolloutGuard(failures=2))
    report(store, serials("BET-21", 5))  # beta devices failing 2.0: beta's activation
    report(store, serials("DEF-20", 5), D20_21)  # the Delta, not the Full release
    report(store, serials("DEF-09", 5), execution="proceeding")  # not a final result
    assert paused(store) is None
    assert paused(store, R20, "beta") is None  # no guard there
    report(store, serials("DEF-09", 2))
    assert paused(store) is not None


def test_a_delta_activation_counts_its_own_failures(demo) -> None:
    store, service = demo
    service.set_guard(D20_21, "default", RolloutGuard(failures=2))
    report(store, serials("DEF-09", 3))  # Full 2.0 failures
    assert paused(store, D20_21) is None
    report(store, serials("DEF-20", 2), D20_21)
    assert paused(store, D20_21) == "paused by rollout guard: 2 failures ≥ 2"


def test_paused_is_not_served_with_the_reason_in_the_trace_and_resume_serves_again(demo):
    store, service = demo
    service.set_guard(R20, "default", RolloutGuard(failures=2))
    before = matrix_for(store, "default", "main").to_json()
    report(store, serials("DEF-09", 2))
    decision = decide_for_device(store, "DEF-09-000010")
    # 2.0 is treated as not active, so 1.0 (active, above 0.9) is the answer now
    assert decision.target_version == "1.0"
    (entry,) = [e for e in decision.trace if e.subject == "Full 2.0"]
    assert entry.outcome == "skipped"
    assert entry.reason == "paused by rollout guard: 2 failures ≥ 2 (in cohort default)"
    m = matrix_for(store, "default", "main")
    assert m.to_json()["paused"] == [{"release": "2.0", "is_delta": False,
                                      "reason": "paused by rollout guard: 2 failures ≥ 2"}]
    column = next(c for c in m.columns if c.version == "2.0")
    assert not column.active and column.paused == "paused by rollout guard: 2 failures ≥ 2"
    # pausing never offers an older release to devices already past it (SPEC §3.6)
    assert decide_for_device(store, "DEF-11-000000").target_version is None

    service.resume(R20, "default")
    assert paused(store) is None
    assert decide_for_device(store, "DEF-09-000010").target_version == "2.0"
    assert matrix_for(store, "default", "main").to_json()["rows"] == before["rows"]


def test_failures_from_before_a_resume_do_not_count_again(demo) -> None:
    store, service = demo
    service.set_guard(R20, "default", RolloutGuard(failures=3))
    report(store, serials("DEF-09", 3))
    assert paused(store) is not None
    service.resume(R20, "default")
    report(store, serials("DEF-09", 2))  # the same devices failing again count anew
    assert paused(store) is None
    report(store, serials("DEF-11", 1))
    assert paused(store) == "paused by rollout guard: 3 failures ≥ 3"
    history = [r for r in store.activation_history() if r["release"] == "2.0"]
    assert history[0]["paused"] and history[0]["failures"] == 3


def test_resume_and_set_guard_are_undoable_changes(demo) -> None:
    store, _ = demo
    apply_local(store, SetGuard(R20, "default", RolloutGuard(failures=1)))
    report(store, ["DEF-09-000001"])
    reason = paused(store)
    assert reason is not None
    ops = apply_local(store, Resume(R20, "default"))
    assert paused(store) is None
    revert_local(store, ops)
    assert paused(store) == reason  # undo of resume: paused again, same reason
    service = ProjectService(store)
    service.resume(R20, "default")
    with pytest.raises(RuleViolation, match="not paused"):
        service.resume(R20, "default")


def test_undo_of_set_guard_restores_the_previous_guard(demo) -> None:
    store, _ = demo
    first = apply_local(store, SetGuard(R20, "default", RolloutGuard(failures=5)))
    second = apply_local(store, SetGuard(R20, "default", RolloutGuard(percent=2.5,
                                                                      min_reports=50)))
    guard = lambda: next(a.guard for a in store.configuration().activations  # noqa: E731
                         if a.release == R20 and a.cohort == "default")
    assert guard() == RolloutGuard(None, 2.5, 50)
    revert_local(store, second)
    assert guard() == RolloutGuard(failures=5)
    revert_local(store, first)
    assert guard() is None


def test_activate_with_a_guard_and_bad_guards_are_refused(demo) -> None:
    store, service = demo
    ref = ReleaseRef("main", version="1.1")
    apply_local(store, Activate(ref, "beta", guard=RolloutGuard(failures=4)))
    activation = next(a for a in store.configuration().activations if a.release == ref)
    assert activation.guard == RolloutGuard(failures=4) and activation.serving
    for bad in (RolloutGuard(), RolloutGuard(failures=0), RolloutGuard(percent=0),
                RolloutGuard(percent=101), RolloutGuard(percent=5, min_reports=0)):
        with pytest.raises(BadInput):
            service.set_guard(ref, "beta", bad)


def test_guard_changes_travel_on_the_wire() -> None:
    for change in (Activate(R20, "beta", guard=RolloutGuard(10, 5.0, 30), seed=7),
                   SetGuard(D20_21, "default", RolloutGuard(percent=2.5)),
                   SetGuard(R20, "default", None), Resume(R20, "default")):
        assert change_from_json(change_to_json(change)) == change
    with pytest.raises(BadInput, match=r"change\.guard\.failures"):
        change_from_json({"type": "SetGuard", "ref": {"software_type": "main",
                                                      "version": "2.0"},
                          "cohort": "default", "guard": {"failures": "ten"}})


def test_a_paused_must_pass_through_release_still_holds_devices_below_it() -> None:
    mpt = full("1.5", mpt=True)
    cfg = config([full("1.0"), mpt, full("2.0")],
                 [on(full("1.0")), replace(on(mpt), paused="paused by rollout guard: x"),
                  on(full("2.0"))])
    # they may go as far as the paused MPT, never past it
    assert resolve(query("0.9"), device("0.9"), cfg).target_version == "1.0"
    held = resolve(query("1.0"), device("1.0"), cfg)
    assert held.target_version is None and "must pass through 1.5" in held.reason
    assert resolve(query("1.5"), device("1.5"), cfg).target_version == "2.0"
    # a paused Delta is simply not there: the Full release is the answer
    d = delta("1.5", "1.6")
    cfg = config([full("2.0"), d], [on(full("2.0")), replace(on(d), paused="paused")])
    assert resolve(query("1.5"), device("1.5"), cfg).target_version == "2.0"


def test_cli_activate_guard_history_matrix_and_resume(small_demo: Path, capsys) -> None:
    from ota_desktop.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        code = main([*args[:1], "--db", str(small_demo), *args[1:]])
        out, err = capsys.readouterr()
        return code, out, err

    ref = ["--software-type", "main", "--version", "2.0"]
    assert run("activate", "--cohort", "beta", *ref, "--guard-failures", "2")[0] == 0
    store = Store.open(small_demo)
    report(store, serials("BET-21", 2))
    code, out, _ = run("history")
    assert code == 0
    line = next(x for x in out.splitlines() if "beta" in x and " 2.0 " in x)
    assert "paused" in line and "guard: pause at 2 failures; 2 of 2 reporting failed" in line
    assert "paused by rollout guard: 2 failures ≥ 2" in out
    code, out, _ = run("history", "--json")
    (row,) = [r for r in json.loads(out) if r["cohort"] == "beta"
              and r["release"] == "2.0"]
    assert row["paused"] and row["guard"] == {"failures": 2, "percent": None,
                                              "min_reports": 20}
    code, out, _ = run("matrix", "--cohort", "beta", "--software-type", "main")
    assert "PAUSED Full 2.0: paused by rollout guard: 2 failures ≥ 2" in out
    code, out, _ = run("resume", "--cohort", "beta", *ref)
    assert code == 0 and "Resume Full release 2.0 in beta" in out
    assert paused(store, R20, "beta") is None
    code, _, err = run("resume", "--cohort", "beta", *ref)
    assert code == 2 and "not paused" in err
    assert run("guard", "--cohort", "beta", *ref, "--percent", "5")[0] == 0
    assert next(a.guard for a in store.configuration().activations_in("beta")
                if a.release == R20) == RolloutGuard(None, 5.0, 20)
    assert run("guard", "--cohort", "beta", *ref, "--off")[0] == 0
    assert run("guard", "--cohort", "beta", *ref)[0] == 2


def test_snapshot_round_trip_keeps_guards_and_pauses(demo, tmp_path: Path) -> None:
    import io

    from ota_desktop.errors import InvalidSnapshot
    from ota_desktop.snapshot import export_snapshot, import_snapshot, validate

    store, service = demo
    service.set_guard(R20, "default", RolloutGuard(failures=2, percent=5, min_reports=30))
    report(store, serials("DEF-09", 2))
    out = io.StringIO()
    export_snapshot(store, out)
    data = json.loads(out.getvalue())
    (a,) = [a for a in data["activations"] if a["release"] == {"software_type": "main",
                                                               "version": "2.0"}]
    assert a["guard"] == {"failures": 2, "percent": 5, "min_reports": 30}
    assert a["paused"] == "paused by rollout guard: 2 failures ≥ 2"
    copy = Store.open(tmp_path / "copy.db")
    import_snapshot(copy, validate(data))
    (restored,) = [a for a in copy.configuration().activations_in("default") if a.release == R20]
    assert restored.guard == RolloutGuard(2, 5, 30)
    assert restored.paused == "paused by rollout guard: 2 failures ≥ 2"
    a["guard"] = {"failures": 2, "min_reports": None}  # was a TypeError traceback
    with pytest.raises(InvalidSnapshot, match=r"guard\.min_reports: expected a number"):
        validate(data)
    a["guard"] = {"failures": 0}
    with pytest.raises(InvalidSnapshot, match=r"activations\[\d\]\.guard: A rollout guard's "
                                              r"failure count is between 1"):
        validate(data)
    a["guard"], a["paused"], a["status"] = None, "why", "pulled"
    with pytest.raises(InvalidSnapshot, match=r"activations\[\d\]\.paused"):
        validate(data)


def test_pausing_what_is_already_paused_changes_nothing(demo) -> None:
    """A mirror's guard and its server's may both pause a rollout; the second pause (pushed
    up) must not be refused and hold the mirror's queue."""
    store, service = demo
    service.pause(R20, "default", "paused by rollout guard: 3 failures ≥ 3")
    last = service.last_operation_id()
    service.pause(R20, "default", "paused by rollout guard: 4 failures ≥ 3")
    assert service.last_operation_id() == last
