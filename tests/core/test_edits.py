"""Editing rules (SPEC §5) and undo through the service."""

from __future__ import annotations

from pathlib import Path

import pytest

from ota_desktop.errors import NotFound, RuleViolation
from ota_desktop.model import ReleaseRef
from ota_desktop.queries import matrix_for
from ota_desktop.service import ProjectService
from ota_desktop.store import Store

R10 = ReleaseRef("main", version="1.0")
R20 = ReleaseRef("main", version="2.0")
D20_21 = ReleaseRef("main", from_version="2.0", to_version="2.1")
D21_22 = ReleaseRef("main", from_version="2.1", to_version="2.2")


def _counts(store: Store, cohort: str = "default") -> dict:
    return matrix_for(store, cohort, "main").to_json()


@pytest.fixture
def demo(small_demo: Path) -> tuple[Store, ProjectService]:
    store = Store.open(small_demo)
    return store, ProjectService(store, actor="alice")


def test_delete_is_refused_while_active_and_names_the_cohorts(demo) -> None:
    store, service = demo
    service.activate(R20, "beta")
    with pytest.raises(RuleViolation, match=r"Release 2\.0 is still active in cohorts beta, "
                                            r"default; pull those activations"):
        service.delete_release(R20)
    service.deactivate(R20, "default")
    service.deactivate(R20, "beta")
    service.delete_release(R20)
    assert store.configuration().find_release(R20) is None


def test_delete_delta_names_its_cohort(demo) -> None:
    _, service = demo
    with pytest.raises(RuleViolation, match=r"Delta release 2\.1→2\.2 is still active in cohort "
                                            r"beta; pull it"):
        service.delete_release(D21_22)


def test_undo_of_a_delete_restores_release_payloads_and_activations(demo) -> None:
    store, service = demo
    before = _counts(store)
    service.deactivate(R20, "default")
    pulled = _counts(store)
    assert pulled != before  # 0.9 and 1.1 devices no longer go to 2.0
    service.delete_release(R20)
    service.revert(service.last_operation_id())  # undo delete
    restored = store.configuration().find_release(R20)
    assert restored is not None and restored.payloads[0].filename == "main-2.0.swu"
    assert _counts(store) == pulled
    service.revert(service.last_operation_id() - 2)  # undo the pull (before delete, undo)
    assert _counts(store) == before
    assert store.operations()[0]["kind"] == "undo.activation.pull"


def test_pulling_changes_the_matrix_and_undo_restores_it_exactly(demo) -> None:
    store, service = demo
    before = _counts(store)
    service.deactivate(D20_21, "default")
    rows = {r["version"]: r["next"] for r in _counts(store)["rows"]}
    assert rows["2.0"] == {"2.0": 132}  # pulling never serves an older release
    service.revert(service.last_operation_id())
    assert _counts(store) == before


def test_raising_a_rollout_then_undo_restores_the_exact_staged_devices(demo) -> None:
    store, service = demo

    def staged() -> set[str]:
        return {r[0] for r in store.db.execute("SELECT serial FROM devices WHERE staged = 1")}

    first = staged()
    service.set_rollout_percent(D21_22, "beta", 50, seed=5)
    assert first < staged() and len(staged()) == 27
    service.revert(service.last_operation_id())
    assert staged() == first
    assert store.configuration().activations[-1].rollout_percent == 11


def test_undo_of_a_staged_activation_unmarks_its_devices(demo) -> None:
    store, service = demo
    service.create_release("main", "2.2")
    service.add_payload(ReleaseRef("main", version="2.2"), "main-2.2.swu",
                        attributes={"hardware_version": "evt"})
    before = _counts(store, "default")
    service.activate(ReleaseRef("main", version="2.2"), "default", kind="staged",
                     rollout_percent=20, seed=1)
    after = {r["version"]: r["next"] for r in _counts(store, "default")["rows"]}
    # 20% of the cohort's 927 devices are staged; those on 2.1 take 2.2 next
    staged_on_21 = store.db.execute(
        "SELECT count(*) FROM devices WHERE staged = 1 AND current_version = '2.1' "
        "AND cohort_id = ?", [store.cohort_id("default")]).fetchone()[0]
    assert store.db.execute("SELECT count(*) FROM devices WHERE staged = 1 AND cohort_id = ?",
                            [store.cohort_id("default")]).fetchone()[0] == 185
    assert after["2.1"] == {"2.1": 738 - staged_on_21, "2.2": staged_on_21}
    assert 100 < staged_on_21 < 185
    service.revert(service.last_operation_id())
    assert _counts(store, "default") == before


def test_move_devices_counts_unknown_serials_and_clears_staged_marks(demo) -> None:
    store, service = demo
    staged = store.db.execute("SELECT serial FROM devices WHERE staged = 1").fetchone()[0]
    service.create_cohort("rollback", disable_version_checking=True)
    result = service.move_devices([staged, "DEF-09-000000", "NOPE-1", "NOPE-2", "NOPE-1"],
                                  "rollback")
    assert (result.moved, result.unknown) == (2, ("NOPE-1", "NOPE-2"))
    moved = store.device(staged)
    assert moved is not None and moved.cohort == "rollback" and not moved.staged
    again = service.move_devices(["DEF-09-000000"], "rollback")
    assert (again.moved, again.already) == (0, 1)
    service.revert(service.last_operation_id())
    back = store.device(staged)
    assert back is not None and back.staged and back.cohort == "beta"
    assert store.device("DEF-09-000000").cohort == "default"


def test_cohort_update_and_undo(demo) -> None:
    store, service = demo
    service.update_cohort("beta", disable_version_checking=True, name="Beta ring")
    cohort = store.configuration().cohort("beta")
    assert cohort is not None and cohort.disable_version_checking and cohort.name == "Beta ring"
    service.revert(service.last_operation_id())
    cohort = store.configuration().cohort("beta")
    assert cohort is not None and not cohort.disable_version_checking
    assert cohort.name == "Beta testers"


def test_release_update_and_undo(demo) -> None:
    store, service = demo
    service.update_release(R10, must_pass_through=True, notes="now MPT")
    r = store.configuration().find_release(R10)
    assert r is not None and r.must_pass_through and r.notes == "now MPT"
    service.revert(service.last_operation_id())
    r = store.configuration().find_release(R10)
    assert r is not None and not r.must_pass_through and r.notes == "Full release 1.0"


def test_generated_key_with_override_and_undo(demo) -> None:
    store, service = demo
    key = service.create_project_key(cohort_override="beta")
    assert len(key) == 32
    assert store.configuration().project_key(key).cohort_override == "beta"
    service.revert(service.last_operation_id())
    assert store.configuration().project_key(key) is None


def test_what_cannot_be_undone_says_so(demo) -> None:
    store, service = demo
    first = store.db.execute("SELECT min(id) FROM operations").fetchone()[0]
    with pytest.raises(RuleViolation, match="cannot be undone"):
        service.revert(first)
    with pytest.raises(NotFound):
        service.revert(10**9)


def test_undo_of_create_is_refused_once_the_release_was_activated(demo) -> None:
    _, service = demo
    service.create_release("main", "3.0")
    created = service.last_operation_id()
    service.activate(ReleaseRef("main", version="3.0"), "beta")
    with pytest.raises(RuleViolation, match="activated since"):
        service.revert(created)
