from __future__ import annotations

import pytest

from ota_desktop.model import ReleaseRef
from ota_desktop.service import NewDevice, ProjectService
from ota_desktop.staging import plan_staging, staged_target
from ota_desktop.store import Store


def test_target_rounds_half_up_and_matches_the_demo() -> None:
    assert staged_target(54_000, 11) == 5_940
    assert staged_target(3, 50) == 2
    assert staged_target(0, 50) == 0


def test_same_seed_same_draw_and_raising_keeps_everyone_already_staged() -> None:
    ids = list(range(1000))
    first = plan_staging(ids, [], 10, seed=7)
    assert first == plan_staging(ids, [], 10, seed=7)
    assert len(first.mark) == 100
    raised = plan_staging(ids, first.mark, 25, seed=8)
    assert raised.unmark == () and len(raised.mark) == 150
    assert not set(raised.mark) & set(first.mark)


def test_lowering_unmarks_only_staged_devices() -> None:
    ids = list(range(100))
    change = plan_staging(ids, range(40), 10, seed=1)
    assert change.mark == () and len(change.unmark) == 30
    assert set(change.unmark) <= set(range(40))


def test_out_of_range_percent_is_refused() -> None:
    with pytest.raises(ValueError):
        plan_staging([1], [], 101, seed=0)


def _fleet(store: Store, n: int) -> ProjectService:
    service = ProjectService(store)
    service.create_project("p", "P")
    service.add_software_type("main")
    service.create_cohort("default", is_default=True)
    service.add_devices(NewDevice(f"D{i}", "2.1") for i in range(n))
    service.create_delta("main", "2.1", "2.2")
    return service


def _staged(store: Store) -> set[str]:
    return {r[0] for r in store.db.execute("SELECT serial FROM devices WHERE staged = 1")}


def test_staging_is_recorded_and_later_devices_are_not_staged(store: Store) -> None:
    service = _fleet(store, 200)
    ref = ReleaseRef("main", from_version="2.1", to_version="2.2")
    service.activate(ref, "default", kind="staged", rollout_percent=10, seed=42)
    first = _staged(store)
    assert len(first) == 20
    run = store.db.execute("SELECT rollout_percent, seed, cohort_size, marked FROM staging_runs"
                           ).fetchone()
    assert run == (10.0, 42, 200, 20)
    service.add_devices(NewDevice(f"N{i}", "2.1") for i in range(100))
    assert len(_staged(store)) == 20  # configured 10%, actual 20/300: the share drifts
    service.set_rollout_percent(ref, "default", 30, seed=43)
    after = _staged(store)
    assert first <= after and len(after) == 90


def test_the_same_seed_reproduces_the_same_devices(tmp_path) -> None:
    results = []
    for _ in range(2):
        store = Store.memory()
        service = _fleet(store, 300)
        service.activate(ReleaseRef("main", from_version="2.1", to_version="2.2"), "default",
                         kind="staged", rollout_percent=11, seed=2026)
        results.append(_staged(store))
    assert results[0] == results[1] and len(results[0]) == 33
