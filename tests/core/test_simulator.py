"""The fleet simulator: deterministic by seed, failure rate as set, the matrix moves through
the normal check-in path, and a rollout guard pauses a failing rollout mid-run."""

from __future__ import annotations

import random
import re
import shutil
from pathlib import Path

import pytest

from ota_desktop.errors import BadInput
from ota_desktop.model import ReleaseRef, RolloutGuard
from ota_desktop.service import ProjectService
from ota_desktop.simulator import Pacer, SimSettings, Simulator, parse_duration
from ota_desktop.store import Store

R20 = ReleaseRef("main", version="2.0")


def copy(db: Path, tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    shutil.copy(db, target)
    return target


def test_same_seed_same_events_and_matrix_however_the_clock_is_driven(small_demo: Path,
                                                                       tmp_path) -> None:
    settings = SimSettings("default", interval_s=600, failure_rate=0.2, seed=42, create=30,
                           start_version="0.9")
    a = Simulator(copy(small_demo, tmp_path, "a.db"), settings, log_events=True)
    a.run_for(4 * 3600)
    b = Simulator(copy(small_demo, tmp_path, "b.db"), settings, log_events=True)
    steps = random.Random(1)
    while b.counters.sim_time < 4 * 3600:  # uneven real-time-like steps, tiny and large
        b.step(steps.choice([0.3, 7, 10, 95, 1200]), until=4 * 3600)
    assert b.counters.sim_time == a.counters.sim_time == 4 * 3600
    assert a.events and a.events == b.events
    assert a.counters == b.counters
    assert a.matrix().to_json() == b.matrix().to_json()
    c = Simulator(copy(small_demo, tmp_path, "c.db"), SimSettings(
        "default", interval_s=600, failure_rate=0.2, seed=43, create=30, start_version="0.9"),
        log_events=True)
    c.run_for(4 * 3600)
    assert c.events != a.events  # another seed, another run


def test_the_failure_rate_holds_over_many_devices(small_demo: Path) -> None:
    sim = Simulator(small_demo, SimSettings("beta", devices=0, create=2000, start_version="2.0",
                                            interval_s=300, failure_rate=0.2, seed=7))
    # beta has no Full release active: activate 2.0's Delta there for everyone
    ProjectService(sim.store).activate(ReleaseRef("main", from_version="2.0", to_version="2.1"),
                                       "beta")
    sim.run_for(3600)
    attempts = sim.counters.successes + sim.counters.failures
    assert attempts > 2400  # failed devices retry at their next poll (2,000 / 0.8)
    assert abs(sim.counters.failures / attempts - 0.2) < 0.03
    rows = dict(sim.store.db.execute(
        "SELECT finished, count(*) FROM ddi_feedback WHERE serial LIKE 'sim-%' "
        "GROUP BY finished").fetchall())
    assert rows == {"failure": sim.counters.failures, "success": sim.counters.successes}


def test_devices_move_from_old_to_new_versions_through_the_normal_path(small_demo: Path) -> None:
    sim = Simulator(small_demo, SimSettings("default", interval_s=900, seed=1))
    before = {r["version"]: r["total"] for r in sim.matrix().to_json()["rows"]}
    assert before == {"0.9": 21, "1.1": 36, "2.0": 132, "2.1": 738}
    sim.run_for(3 * 900)
    after = sim.matrix().to_json()
    # 0.9 and 1.1 took Full 2.0, then the Delta to 2.1, like everyone on 2.0
    assert {r["version"]: r["total"] for r in after["rows"]} == {"2.1": 927}
    assert sim.counters.failures == 0 and sim.counters.successes == 21 * 2 + 36 * 2 + 132
    store = sim.store
    assert [v for _, v in store.device_history("DEF-09-000003")] == ["0.9", "2.0", "2.1"]
    assert sorted(store.groups("default", "main")) == sorted(store.recount_groups("default",
                                                                                  "main"))
    assert store.device("DEF-09-000003").last_seen is not None


def test_a_guard_pauses_a_failing_rollout_during_the_simulation(small_demo: Path) -> None:
    ProjectService(Store.open(small_demo)).set_guard(R20, "default", RolloutGuard(failures=5))
    sim = Simulator(small_demo, SimSettings("default", interval_s=600, failure_rate=0.6,
                                            seed=5, create=200, start_version="1.1"),
                    log_events=True)
    sim.run_for(3 * 3600)
    [(paused_at, reason)] = sim.counters.pauses
    # checked once per written batch: a batch may carry it past the threshold by more than one
    assert re.fullmatch(r"2\.0 in default: paused by rollout guard: \d+ failures ≥ 5", reason)
    config = sim.store.configuration()
    assert next(a.paused for a in config.activations_in("default") if a.release == R20)
    assert sim.events is not None
    late = [e for e in sim.events if e.kind == "offer" and e.version == "2.0"
            and e.at >= paused_at]
    assert late == []  # nothing offers 2.0 after the pause
    assert any(e.kind == "poll" and e.at > paused_at for e in sim.events)  # devices go on
    on_11 = {r["version"]: r["total"] for r in sim.matrix().to_json()["rows"]}["1.1"]
    assert on_11 > 36  # the failed ones (and the never-offered ones) stay on 1.1


def test_settings_are_checked_and_an_empty_selection_is_refused(small_demo: Path) -> None:
    with pytest.raises(BadInput, match="failure rate"):
        Simulator(small_demo, SimSettings("default", failure_rate=1.5))
    with pytest.raises(BadInput, match="no main devices"):
        Simulator(small_demo, SimSettings("default", devices=0))
    with pytest.raises(BadInput, match="no cohort"):
        Simulator(small_demo, SimSettings("nope"))


def test_pacer_follows_speed_changes_and_pauses() -> None:
    now = [100.0]
    pacer = Pacer(10, clock=lambda: now[0])
    assert pacer.due() == 0  # not started
    pacer.start()
    now[0] += 2
    assert pacer.due() == 20
    pacer.speed = 1000
    now[0] += 0.5
    assert pacer.due() == 500
    pacer.pause()
    now[0] += 60
    assert pacer.due() == 0


def test_durations() -> None:
    assert parse_duration("90") == 90
    assert parse_duration("15m") == 900
    assert parse_duration("1h30m") == 5400
    assert parse_duration("2d") == 172_800
    with pytest.raises(BadInput):
        parse_duration("soon")


def test_cli_simulate_prints_a_summary_and_is_reproducible(small_demo: Path, tmp_path,
                                                           capsys) -> None:
    import json
    import time

    from ota_desktop.cli import main

    args = ["--cohort", "default", "--create", "40", "--start-version", "0.9",
            "--interval", "10m", "--failure-rate", "25%", "--seed", "9", "--duration", "2h"]
    outputs = []
    for name in ("one.db", "two.db"):
        assert main(["simulate", "--db", str(copy(small_demo, tmp_path, name)), *args,
                     "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        data.pop("real_seconds")
        outputs.append(data)
    assert outputs[0] == outputs[1] and outputs[0]["seed"] == 9
    assert outputs[0]["devices"] == 927 + 40 and outputs[0]["sim_time"] == 7200
    assert outputs[0]["failures"] > 0 and outputs[0]["successes"] > 0

    started = time.monotonic()  # paced: 1 simulated hour at 3600x takes about a second
    assert main(["simulate", "--db", str(small_demo), "--cohort", "beta", "--interval", "5m",
                 "--speed", "3600", "--duration", "1h", "--seed", "1"]) == 0
    assert 0.7 < time.monotonic() - started < 15
    out = capsys.readouterr().out
    assert out.startswith("Simulated 1h of 54 devices in cohort beta (seed 1)")
    assert "polls " in out and "final targets: " in out
    assert main(["simulate", "--db", str(small_demo), "--cohort", "beta",
                 "--failure-rate", "lots"]) == 2


def test_simulations_refuse_what_would_mislead(small_demo: Path, tmp_path) -> None:
    """From a hostile pass: a linked mirror (its pauses would reach the real server), serials
    already in another cohort, a start version the scheme cannot read, an unknown key."""
    from ota_desktop.sync import mirror

    linked = copy(small_demo, tmp_path, "linked.db")
    mirror.connect(Store.open(linked), "http://127.0.0.1:9", "acme", "demo", "oat_x")
    with pytest.raises(BadInput, match="syncs with a server"):
        Simulator(linked, SimSettings("default", create=3))
    db = copy(small_demo, tmp_path, "db.db")
    Simulator(db, SimSettings("default", create=3, start_version="0.9")).close()
    with pytest.raises(BadInput, match="another cohort"):
        Simulator(db, SimSettings("beta", create=3))
    with pytest.raises(BadInput, match="not a valid natural version"):
        Simulator(db, SimSettings("default", create=5, start_version="not a version!"))
    with pytest.raises(BadInput, match="project key"):
        Simulator(db, SimSettings("default", project_key="nope"))
    assert Store.open(db).device_count() == 981 + 3  # nothing half-created


def test_failures_count_against_the_activation_that_served_them(small_demo: Path,
                                                                tmp_path) -> None:
    """Devices of beta polling with the demo's recovery key are served by default's
    activations: their failures count toward default's guard."""
    db = copy(small_demo, tmp_path, "db.db")
    ProjectService(Store.open(db)).set_guard(R20, "default", RolloutGuard(failures=3))
    sim = Simulator(db, SimSettings("beta", devices=0, create=20, start_version="0.9",
                                    interval_s=600, failure_rate=1.0, seed=3,
                                    project_key="factory-recovery"))
    sim.run_for(6 * 3600)
    assert sim.counters.failures >= 3
    assert any("3 failures ≥ 3" in reason for _, reason in sim.counters.pauses)
