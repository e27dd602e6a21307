"""Update paths and the delta planner.

An update path is every hop a device takes until it stops (the resolver iterated), with the
bytes each hop downloads. The planner ranks current versions by device count and estimates
what a Delta straight to the final target would save, so a release manager builds Deltas for
the few versions that carry most of the fleet (and lets the rest take Full releases).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass

from ota_desktop.matrix import MAX_HOPS
from ota_desktop.model import (
    Configuration,
    DeltaRelease,
    DeviceGroup,
    DeviceState,
    Query,
    Release,
    ReleaseRef,
    ref_of,
)
from ota_desktop.resolver import resolve
from ota_desktop.versions import display_order

#: Delta size as a share of the Full image when no Delta with payloads exists to learn from
DEFAULT_DELTA_RATIO = 0.15
TOP = 5


@dataclass(frozen=True)
class Hop:
    from_version: str
    to_version: str
    kind: str  # "full" or "delta"
    must_pass_through: bool
    bytes: int

    def label(self) -> str:
        mark = " Δ" if self.kind == "delta" else " (MPT)" if self.must_pass_through else ""
        return f"{self.to_version}{mark}"


@dataclass(frozen=True)
class UpdatePath:
    version: str
    devices: int
    hops: tuple[Hop, ...]

    @property
    def final(self) -> str:
        return self.hops[-1].to_version if self.hops else self.version

    @property
    def bytes(self) -> int:
        return sum(h.bytes for h in self.hops)

    def describe(self) -> str:
        return " → ".join([self.version, *(h.label() for h in self.hops)])


@dataclass(frozen=True)
class DeltaAdvice:
    version: str
    devices: int
    final: str
    path_bytes: int  # per device, along today's path
    delta_bytes: int  # per device, estimated for a Delta version → final
    has_delta: bool  # an active Delta from this version already exists
    top: bool  # among the TOP versions by device count

    @property
    def saved_bytes(self) -> int:
        """Fleet-wide download bytes saved by a Delta from this version to its final target."""
        if self.has_delta or self.version == self.final:
            return 0
        return max(self.path_bytes - self.delta_bytes, 0) * self.devices


def _path(config: Configuration, cohort: str, software_type: str, group: DeviceGroup
          ) -> tuple[Hop, ...]:
    hops: list[Hop] = []
    version, seen = group.version, {group.version}
    for _ in range(MAX_HOPS):
        device = DeviceState("", cohort, software_type, version or None, group.attributes,
                             group.staged)
        decision = resolve(Query("", software_type, version or None, group.attributes),
                           device, config)
        target = decision.target_version
        if target is None or target in seen:
            break
        release = decision.release
        hops.append(Hop(version, target, decision.kind or "full",
                        isinstance(release, Release) and release.must_pass_through,
                        decision.payload.size if decision.payload else 0))
        version = target
        seen.add(target)
    return tuple(hops)


def update_paths(config: Configuration, cohort: str, software_type: str,
                 groups: Iterable[DeviceGroup]) -> list[UpdatePath]:
    """One path per distinct (version, hops), largest device count first within a version."""
    merged: dict[tuple[str, tuple[Hop, ...]], int] = {}
    for group in groups:
        key = (group.version, _path(config, cohort, software_type, group))
        merged[key] = merged.get(key, 0) + group.count
    order = {v: i for i, v in enumerate(display_order(config.scheme, {v for v, _ in merged}))}
    return [UpdatePath(v, n, hops) for (v, hops), n in
            sorted(merged.items(), key=lambda kv: (order[kv[0][0]], -kv[1]))]


def delta_ratio(config: Configuration) -> float:
    """The median size of existing Deltas relative to the Full image they lead to."""
    fulls = {(r.software_type, r.version): r for r in config.releases}
    ratios = []
    for d in config.delta_releases:
        full = fulls.get((d.software_type, d.to_version))
        if d.payloads and full and full.payloads and full.payloads[0].size:
            ratios.append(d.payloads[0].size / full.payloads[0].size)
    return statistics.median(ratios) if ratios else DEFAULT_DELTA_RATIO


def plan_deltas(config: Configuration, cohort: str, software_type: str,
                paths: list[UpdatePath]) -> list[DeltaAdvice]:
    """Current versions ranked by device count, with the bytes a Delta would save."""
    ratio = delta_ratio(config)
    full_size = {r.version: (r.payloads[0].size if r.payloads else 0)
                 for r in config.releases if r.software_type == software_type}
    active = {a.release for a in config.activations_in(cohort) if a.status == "active"}
    by_version: dict[str, list[UpdatePath]] = {}
    for p in paths:
        by_version.setdefault(p.version, []).append(p)
    advice = []
    for version, group in by_version.items():
        main = max(group, key=lambda p: p.devices)
        devices = sum(p.devices for p in group)
        final_full = full_size.get(main.final) or max((h.bytes for h in main.hops), default=0)
        has_delta = any(isinstance(d, DeltaRelease) and d.from_version == version
                        and d.to_version == main.final and _ref_active(d, active)
                        for d in config.delta_releases)
        advice.append(DeltaAdvice(version, devices, main.final, main.bytes,
                                  int(final_full * ratio), has_delta, False))
    advice.sort(key=lambda a: -a.devices)
    return [DeltaAdvice(a.version, a.devices, a.final, a.path_bytes, a.delta_bytes,
                        a.has_delta, i < TOP) for i, a in enumerate(advice)]


def _ref_active(delta: DeltaRelease, active: set[ReleaseRef]) -> bool:
    return ref_of(delta) in active
