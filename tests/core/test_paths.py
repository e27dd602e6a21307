from __future__ import annotations

from pathlib import Path

from ota_desktop.model import DeltaRelease, DeviceGroup, Payload, Release, attributes_key
from ota_desktop.paths import DEFAULT_DELTA_RATIO, plan_deltas, update_paths
from ota_desktop.store import Store

from .builders import config, on

EVT = {"hardware_version": "evt"}
KEY = attributes_key(EVT)
MB = 1_000_000


def full(v: str, size: int, mpt: bool = False) -> Release:
    return Release("main", v, must_pass_through=mpt,
                   payloads=(Payload(f"{v}.swu", size=size, attributes=EVT),))


def delta(a: str, b: str, size: int) -> DeltaRelease:
    return DeltaRelease("main", a, b, payloads=(Payload(f"{a}-{b}", size=size, attributes=EVT),))


def test_the_full_chain_with_mpt_and_delta_and_bytes() -> None:
    releases = [full("1.5", 20 * MB, mpt=True), full("2.0", 24 * MB), delta("2.0", "2.1", 3 * MB)]
    cfg = config(releases, [on(r) for r in releases])
    (path,) = update_paths(cfg, "default", "main", [DeviceGroup("0.9", KEY, False, 500)])
    assert path.describe() == "0.9 → 1.5 (MPT) → 2.0 → 2.1 Δ"
    assert path.bytes == 47 * MB and path.final == "2.1" and path.devices == 500


def test_planner_ranks_by_devices_and_estimates_savings_from_existing_deltas() -> None:
    releases = [full("2.0", 20 * MB), full("2.1", 20 * MB), delta("2.0", "2.1", 2 * MB)]
    cfg = config(releases, [on(r) for r in releases])
    groups = [DeviceGroup(v, KEY, False, n) for v, n in
              (("1.0", 100), ("1.1", 900), ("2.0", 50), ("2.1", 5000))]
    advice = plan_deltas(cfg, "default", "main", update_paths(cfg, "default", "main", groups))
    assert [a.version for a in advice] == ["2.1", "1.1", "1.0", "2.0"]
    by = {a.version: a for a in advice}
    # 1.1 takes Full 2.1 (20 MB); a Delta 1.1→2.1 would be ~10% (learned from 2.0→2.1)
    assert by["1.1"].path_bytes == 20 * MB and by["1.1"].delta_bytes == 2 * MB
    assert by["1.1"].saved_bytes == 900 * 18 * MB
    assert by["2.0"].has_delta and by["2.0"].saved_bytes == 0
    assert by["2.1"].saved_bytes == 0  # already at the final target
    assert all(a.top for a in advice)  # fewer than five versions: all in the top five


def test_without_any_delta_the_default_ratio_is_used(small_demo: Path) -> None:
    store = Store.open(small_demo)
    cfg = store.configuration()
    paths = update_paths(cfg, "default", "main", store.groups("default", "main"))
    assert [p.describe() for p in paths] == ["0.9 → 2.0 → 2.1 Δ", "1.1 → 2.0 → 2.1 Δ",
                                             "2.0 → 2.1 Δ", "2.1"]
    advice = {a.version: a for a in plan_deltas(cfg, "default", "main", paths)}
    assert advice["0.9"].path_bytes == paths[0].bytes
    assert advice["0.9"].delta_bytes < paths[0].bytes
    assert DEFAULT_DELTA_RATIO == 0.15
