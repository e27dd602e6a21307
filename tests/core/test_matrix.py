from __future__ import annotations

from pathlib import Path

from ota_desktop.matrix import compute_matrix
from ota_desktop.model import DeviceGroup, attributes_key
from ota_desktop.queries import matrix_for
from ota_desktop.store import Store

from .builders import config, delta, full, on

EVT_KEY = attributes_key({"hardware_version": "evt"})


def test_demo_default_cohort_has_the_seed_figures(demo_db: Path) -> None:
    store = Store.open(demo_db)
    m = matrix_for(store, "default", "main")
    assert [(r.version, r.total, {c: x.count for c, x in r.cells.items()}) for r in m.rows] == [
        ("0.9", 21_000, {"2.0": 21_000}),
        ("1.1", 36_000, {"2.0": 36_000}),
        ("2.0", 132_000, {"2.1": 132_000}),
        ("2.1", 738_000, {"2.1": 738_000}),
    ]
    assert m.final_targets == ("2.1",)
    columns = {c.version: c for c in m.columns}
    assert [v for v, c in columns.items() if c.active] == ["1.0", "2.0"]
    assert columns["1.1"].release is not None and not columns["1.1"].active
    assert columns["2.1"].release is None and columns["2.2"].release is None
    assert m.row("2.0").active_delta is not None
    assert m.row("2.0").active_delta.to_version == "2.1"
    assert m.row("2.0").cells["2.1"].kind == "delta"
    # Full 1.0 is active but applies to nobody: no cell points at it.
    assert all("1.0" not in r.cells for r in m.rows)


def test_demo_beta_cohort_stages_5940_of_54000(demo_db: Path) -> None:
    store = Store.open(demo_db)
    m = matrix_for(store, "beta", "main")
    (row,) = m.rows
    assert (row.version, row.total) == ("2.1", 54_000)
    to_22 = row.cells["2.2"]
    assert (to_22.count, to_22.staged, to_22.staged_of, to_22.rollout_percent) == (
        5_940, True, 54_000, 11.0)
    assert row.cells["2.1"].count == 48_060
    assert m.final_targets == ("2.1", "2.2")


def test_demo_maintained_counts_equal_a_full_recount(demo_db: Path) -> None:
    store = Store.open(demo_db)
    for cohort in ("default", "beta"):
        assert sorted(store.groups(cohort, "main"), key=repr) == sorted(
            store.recount_groups(cohort, "main"), key=repr)


def test_one_resolver_call_per_group_not_per_device(monkeypatch) -> None:
    import ota_desktop.matrix as matrix_module

    calls = []
    real = matrix_module.resolve
    monkeypatch.setattr(matrix_module, "resolve", lambda *a: calls.append(a) or real(*a))
    r20 = full("2.0")
    cfg = config([r20], [on(r20)])
    groups = [DeviceGroup("1.0", EVT_KEY, False, 500_000), DeviceGroup("2.0", EVT_KEY, False, 9)]
    m = compute_matrix(cfg, "default", "main", groups)
    assert m.row("1.0").cells["2.0"].count == 500_000
    # one call per group plus one per hop when following paths to the final target
    assert len(calls) == 3


def test_unparseable_versions_are_their_own_flagged_row() -> None:
    r20 = full("2.0.0")
    cfg = config([r20], [on(r20)], scheme="semver")
    groups = [DeviceGroup("1.0.0", EVT_KEY, False, 5), DeviceGroup("banana", EVT_KEY, False, 3)]
    m = compute_matrix(cfg, "default", "main", groups)
    assert [(r.version, r.valid, r.total) for r in m.rows] == [("1.0.0", True, 5),
                                                                ("banana", False, 3)]
    assert m.row("banana").cells["banana"].count == 3  # stays, never crashes


def test_same_version_different_attributes_and_staged_split_the_row() -> None:
    d = delta("2.1", "2.2")
    dvt = full("3.0", hw="dvt")
    cfg = config([d, dvt], [on(d, staged=10), on(dvt)])
    dvt_key = attributes_key({"hardware_version": "dvt"})
    groups = [DeviceGroup("2.1", EVT_KEY, True, 4), DeviceGroup("2.1", EVT_KEY, False, 6),
              DeviceGroup("2.1", dvt_key, False, 7)]
    row = compute_matrix(cfg, "default", "main", groups).row("2.1")
    assert {c: x.count for c, x in row.cells.items()} == {"2.1": 6, "2.2": 4, "3.0": 7}
    assert row.final_targets == ("2.1", "2.2", "3.0")


def test_final_targets_follow_every_hop() -> None:
    mpt, r3, d = full("1.5", mpt=True), full("3.0"), delta("3.0", "3.1")
    cfg = config([mpt, r3, d], [on(mpt), on(r3), on(d)])
    m = compute_matrix(cfg, "default", "main", [DeviceGroup("1.0", EVT_KEY, False, 1)])
    assert m.row("1.0").cells["1.5"].count == 1
    assert m.final_targets == ("3.1",)
