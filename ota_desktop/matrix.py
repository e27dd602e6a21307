"""The version matrix of one cohort and software type (SPEC §6), as a plain value object.

Devices are grouped by (version, attributes, staged); the resolver runs once per group, never
once per device, and final targets come from iterating the resolver from each group.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

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
from ota_desktop.resolver import Decision, resolve
from ota_desktop.versions import display_order, is_valid

MAX_HOPS = 64


@dataclass(frozen=True)
class Cell:
    """Devices on ``row`` whose next step is ``column`` (equal to ``row`` when they stay)."""

    row: str
    column: str
    count: int
    groups: tuple[DeviceGroup, ...]
    kind: str | None  # "full", "delta" or None (stay)
    staged: bool  # reached through a staged rollout
    staged_of: int = 0  # devices on this row in the cohort (for "5.9K of 54K")
    rollout_percent: float | None = None


@dataclass(frozen=True)
class Row:
    version: str
    total: int
    valid: bool
    cells: dict[str, Cell]
    final_targets: tuple[str, ...]
    active_delta: DeltaRelease | None  # the active Delta from this version, if any
    deltas: tuple[DeltaRelease, ...] = ()  # every Delta from this version


@dataclass(frozen=True)
class Column:
    version: str
    release: Release | None  # the Full release of this version, if there is one
    active: bool  # that Full release is active (and served) in the cohort
    final_target: bool
    paused: str | None = None  # why its activation here is paused (not served)


@dataclass(frozen=True)
class VersionMatrix:
    cohort: str
    software_type: str
    rows: tuple[Row, ...]
    columns: tuple[Column, ...]
    final_targets: tuple[str, ...]
    decisions: dict[tuple[str, str, bool], Decision] = field(default_factory=dict)
    #: the cohort's paused activations: release -> why (e.g. "paused by rollout guard: …")
    paused: dict[ReleaseRef, str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(r.total for r in self.rows)

    def paused_reason(self, release: Release | DeltaRelease | None) -> str | None:
        return self.paused.get(ref_of(release)) if release is not None else None

    def row(self, version: str) -> Row:
        return next(r for r in self.rows if r.version == version)

    def to_json(self) -> dict[str, Any]:
        """The ``matrix --json`` shape of SPEC §10."""
        return {
            "cohort": self.cohort,
            "software_type": self.software_type,
            "rows": [
                {
                    "version": r.version,
                    "total": r.total,
                    "valid": r.valid,
                    "next": {c: cell.count for c, cell in r.cells.items()},
                    "final_targets": list(r.final_targets),
                }
                for r in self.rows
            ],
            "final_targets": list(self.final_targets),
            "paused": [{"release": ref.label, "is_delta": ref.is_delta, "reason": reason}
                       for ref, reason in self.paused.items()],
        }


def compute_matrix(
    config: Configuration, cohort: str, software_type: str, groups: Iterable[DeviceGroup]
) -> VersionMatrix:
    scheme = config.scheme
    by_row: dict[str, list[tuple[DeviceGroup, Decision]]] = {}
    decisions: dict[tuple[str, str, bool], Decision] = {}
    finals_of: dict[str, set[str]] = {}
    for group in groups:
        decision = _decide(config, cohort, software_type, group.version, group.attributes,
                           group.staged)
        decisions[(group.version, group.attributes_key, group.staged)] = decision
        by_row.setdefault(group.version, []).append((group, decision))
        finals_of.setdefault(group.version, set()).add(
            _final_target(config, cohort, software_type, group, decision)
        )

    staged_percent = _staged_percent_by_release(config, cohort)
    rows = []
    for version in display_order(scheme, by_row):
        entries = by_row[version]
        total = sum(g.count for g, _ in entries)
        cells: dict[str, list[tuple[DeviceGroup, Decision]]] = {}
        for group, decision in entries:
            cells.setdefault(decision.target_version or version, []).append((group, decision))
        row_cells = {}
        for column in display_order(scheme, cells):
            members = cells[column]
            decision = members[0][1]
            percent = (staged_percent.get(ref_of(decision.release))
                       if decision.release else None)
            row_cells[column] = Cell(
                row=version, column=column, count=sum(g.count for g, _ in members),
                groups=tuple(g for g, _ in members), kind=decision.kind,
                staged=percent is not None, staged_of=total, rollout_percent=percent,
            )
        from_here = tuple(d for d in config.delta_releases
                          if d.software_type == software_type and d.from_version == version)
        rows.append(Row(
            version=version, total=total, valid=is_valid(scheme, version), cells=row_cells,
            final_targets=tuple(display_order(scheme, finals_of[version])),
            active_delta=_active_delta(config, cohort, from_here), deltas=from_here,
        ))

    # Devices on an unparseable version go nowhere: their row is flagged, not a target.
    final_targets = tuple(display_order(scheme, {
        t for version, targets in finals_of.items() for t in targets
        if is_valid(scheme, version) or t != version}))
    return VersionMatrix(
        cohort=cohort, software_type=software_type, rows=tuple(rows),
        columns=_columns(config, cohort, software_type, rows, final_targets),
        final_targets=final_targets, decisions=decisions,
        paused={a.release: a.paused for a in config.activations_in(cohort)
                if a.status == "active" and a.paused is not None
                and a.release.software_type == software_type},
    )


def _decide(config: Configuration, cohort: str, software_type: str, version: str,
            attributes: dict[str, str], staged: bool) -> Decision:
    device = DeviceState(serial="", cohort=cohort, software_type=software_type,
                         current_version=version or None, attributes=attributes, staged=staged)
    query = Query(device_serial="", software_type=software_type, current_version=version or None,
                  attributes=attributes)
    return resolve(query, device, config)


def _final_target(config: Configuration, cohort: str, software_type: str, group: DeviceGroup,
                  first: Decision) -> str:
    """Where a group ends up when every device keeps taking its next update."""
    version, decision, seen = group.version, first, {group.version}
    for _ in range(MAX_HOPS):
        target = decision.target_version
        if target is None or target in seen:
            return version if target is None else target
        version = target
        seen.add(version)
        decision = _decide(config, cohort, software_type, version, group.attributes,
                           group.staged)
    return version


def _staged_percent_by_release(config: Configuration, cohort: str) -> dict[ReleaseRef, float]:
    """For releases that reach devices only through a staged activation here, its %."""
    result: dict[ReleaseRef, float] = {}
    releases: tuple[Release | DeltaRelease, ...] = (*config.releases, *config.delta_releases)
    for release in releases:
        active = [a for a in config.activations_in(cohort)
                  if a.release == ref_of(release) and a.serving]
        if active and all(a.kind == "staged" for a in active):
            result[ref_of(release)] = float(active[0].rollout_percent or 0)
    return result


def _active_delta(config: Configuration, cohort: str,
                  deltas: tuple[DeltaRelease, ...]) -> DeltaRelease | None:
    active_refs = {a.release for a in config.activations_in(cohort) if a.serving}
    live = [d for d in deltas if ref_of(d) in active_refs]
    if not live:
        return None
    return max(live, key=lambda d: (config.scheme.precedence(d.to_version), d.to_version))


def _columns(config: Configuration, cohort: str, software_type: str, rows: list[Row],
             final_targets: tuple[str, ...]) -> tuple[Column, ...]:
    releases = {r.version: r for r in config.releases if r.software_type == software_type}
    active_refs = {a.release for a in config.activations_in(cohort) if a.serving}
    paused = {a.release: a.paused for a in config.activations_in(cohort)
              if a.status == "active" and a.paused is not None}
    versions = set(releases)
    for row in rows:
        versions.add(row.version)
        versions.update(row.cells)
    versions.update(d.to_version for d in config.delta_releases
                    if d.software_type == software_type)
    return tuple(
        Column(
            version=v,
            release=releases.get(v),
            active=v in releases and ref_of(releases[v]) in active_refs,
            final_target=v in final_targets,
            paused=paused.get(ref_of(releases[v])) if v in releases else None,
        )
        for v in display_order(config.scheme, versions)
    )
