"""The embedded resolver: the decision a device gets when it asks for its latest release.

Pure and deterministic (no I/O, clock or randomness). Besides the decision it returns a trace
naming every release of the query's software type and why it was taken or skipped, so the
"Inspect" view and ``ota-desktop resolve`` can explain any answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ota_desktop.errors import InvalidVersion
from ota_desktop.model import (
    Activation,
    Configuration,
    DeltaRelease,
    DeviceState,
    Payload,
    Query,
    Release,
    ref_of,
)
from ota_desktop.versions import PrecedenceKey, VersionScheme, sort_key

Outcome = Literal["taken", "skipped", "note"]


@dataclass(frozen=True)
class TraceEntry:
    subject: str
    outcome: Outcome
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"subject": self.subject, "outcome": self.outcome, "reason": self.reason}

    def __str__(self) -> str:
        return f"[{self.outcome}] {self.subject}: {self.reason}"


@dataclass(frozen=True)
class Decision:
    release: Release | DeltaRelease | None
    payload: Payload | None
    reason: str
    trace: tuple[TraceEntry, ...]
    effective_cohort: str
    staged: bool

    @property
    def update(self) -> bool:
        return self.release is not None

    @property
    def kind(self) -> Literal["full", "delta"] | None:
        if self.release is None:
            return None
        return "delta" if isinstance(self.release, DeltaRelease) else "full"

    @property
    def target_version(self) -> str | None:
        if isinstance(self.release, DeltaRelease):
            return self.release.to_version
        return self.release.version if self.release is not None else None

    def to_json(self) -> dict[str, Any]:
        """The ``resolve --json`` shape of SPEC §10."""
        release = self.release
        payload = self.payload
        return {
            "update": self.update,
            "kind": self.kind,
            "version": self.target_version,
            "from_version": release.from_version if isinstance(release, DeltaRelease) else None,
            "must_pass_through": isinstance(release, Release) and release.must_pass_through,
            "payload": None
            if payload is None
            else {
                "filename": payload.filename,
                "size": payload.size,
                "sha256": payload.sha256,
                "sha1": payload.sha1,
                "md5": payload.md5,
                "attributes": dict(payload.attributes),
            },
            "reason": self.reason,
            "effective_cohort": self.effective_cohort,
            "staged": self.staged,
            "trace": [entry.to_json() for entry in self.trace],
        }


@dataclass(frozen=True)
class _Candidate:
    release: Release | DeltaRelease
    payload: Payload


def resolve(query: Query, device: DeviceState | None, config: Configuration) -> Decision:
    """Decide what ``query`` gets. ``device`` supplies the stored cohort and staged mark only;
    the query carries the version and attributes (callers merge stored values into it)."""
    trace: list[TraceEntry] = []
    scheme = config.scheme
    cohort_slug, staged = _effective_cohort(query, device, config, trace)
    cohort = config.cohort(cohort_slug)
    version_checking = not (cohort is not None and cohort.disable_version_checking)

    def finish(chosen: _Candidate | None, reason: str) -> Decision:
        return Decision(
            release=chosen.release if chosen else None,
            payload=chosen.payload if chosen else None,
            reason=reason,
            trace=tuple(trace),
            effective_cohort=cohort_slug,
            staged=staged,
        )

    current = query.current_version
    current_key: PrecedenceKey | None = None
    if current is not None:
        try:
            current_key = scheme.precedence(current)
        except InvalidVersion as exc:
            trace.append(TraceEntry(f"current version {current!r}", "note", str(exc)))
            return finish(None, f"No update: the current version {current!r} is not valid "
                          f"in the {scheme.name} scheme, so nothing can be compared with it.")

    applicable, held = _applicable(query, config, cohort_slug, staged, trace)
    deltas = [c for c in applicable if isinstance(c.release, DeltaRelease)]
    fulls = [c for c in applicable if isinstance(c.release, Release)]

    if current is None or current_key is None:
        for c in deltas:
            trace.append(TraceEntry(c.release.label, "skipped", "no current version was given"))
        best = _highest(scheme, fulls)
        for c in fulls:
            if c is not best:
                trace.append(TraceEntry(c.release.label, "skipped", "a higher Full release wins"))
        if best is None:
            return finish(None, "No update: no current version and no applicable Full release.")
        trace.append(TraceEntry(best.release.label, "taken", "highest applicable Full release "
                                "(no current version given)"))
        return finish(best, f"No current version given: the highest applicable Full release "
                      f"{_version(best)} is offered.")

    # 1. Delta from exactly the current version (highest to_version among several).
    matching = [c for c in deltas if _delta(c).from_version == current]
    for c in deltas:
        if _delta(c).from_version != current:
            trace.append(TraceEntry(c.release.label, "skipped",
                                    f"its from version is not the current version {current}"))
    best_delta = _highest(scheme, matching)
    if best_delta is not None:
        for c in matching:
            if c is not best_delta:
                trace.append(TraceEntry(c.release.label, "skipped",
                                        "another Delta from this version goes higher"))
        trace.append(TraceEntry(best_delta.release.label, "taken",
                                f"a Delta from the current version {current} comes first"))
        for c in fulls:
            trace.append(TraceEntry(c.release.label, "skipped",
                                    "a Delta from the current version takes precedence"))
        return finish(best_delta, f"Delta {current}→{_version(best_delta)}: a Delta release "
                      f"from the current version takes precedence over Full releases.")

    newer = [c for c in fulls if scheme.precedence(_version(c)) > current_key]
    # 2. Must-pass-through: the lowest MPT above the current version.
    mpts = [c for c in newer if _full(c).must_pass_through]
    lowest_mpt = _lowest(scheme, mpts)
    # A paused MPT still bars the way: devices below it wait rather than skip past it.
    paused_mpts = [c for c in held if isinstance(c.release, Release)
                   and c.release.must_pass_through
                   and scheme.precedence(_version(c)) > current_key]
    barrier = _lowest(scheme, paused_mpts)
    if barrier is not None and (lowest_mpt is None or sort_key(scheme, _version(barrier))
                                < sort_key(scheme, _version(lowest_mpt))):
        wall = scheme.precedence(_version(barrier))
        below = _highest(scheme, [c for c in newer if scheme.precedence(_version(c)) < wall])
        for c in fulls:
            if c is not below:
                trace.append(TraceEntry(c.release.label, "skipped",
                                        f"not newer than {current}" if c not in newer else
                                        f"the device must pass through {_version(barrier)} "
                                        "first, and it is paused"))
        if below is None:
            return finish(None, f"No update: the device must pass through {_version(barrier)} "
                          f"first, and that release is paused in cohort {cohort_slug}.")
        trace.append(TraceEntry(below.release.label, "taken",
                                f"highest applicable Full release above {current} below the "
                                f"paused must-pass-through release {_version(barrier)}"))
        return finish(below, f"Full release {_version(below)}: the highest applicable Full "
                      f"release above {current}; the must-pass-through release "
                      f"{_version(barrier)} above it is paused.")
    if lowest_mpt is not None:
        trace.append(TraceEntry(lowest_mpt.release.label, "taken",
                                f"lowest must-pass-through release above {current}"))
        for c in fulls:
            if c is lowest_mpt:
                continue
            why = (f"not newer than {current}" if c not in newer
                   else f"the device must pass through {_version(lowest_mpt)} first")
            trace.append(TraceEntry(c.release.label, "skipped", why))
        return finish(lowest_mpt, f"Must pass through {_version(lowest_mpt)}: it is the lowest "
                      f"must-pass-through release above {current}.")

    # 3. The highest Full release above the current version (any Full, if checking is off).
    pool = newer if version_checking else fulls
    best = _highest(scheme, pool)
    for c in fulls:
        if c is best:
            continue
        if c not in pool:
            why = f"not newer than {current} (downgrades are off in cohort {cohort_slug})"
        else:
            why = f"{_version(best) if best else '?'} is higher"
        trace.append(TraceEntry(c.release.label, "skipped", why))
    if best is None:
        return finish(None, f"No update: no applicable release is newer than {current}.")
    if _version(best) == current:
        trace.append(TraceEntry(best.release.label, "skipped",
                                "the device already runs it (version checking is disabled)"))
        return finish(None, f"No update: the device already runs {current}, the highest "
                      f"applicable release in cohort {cohort_slug}.")
    if scheme.precedence(_version(best)) > current_key:
        trace.append(TraceEntry(best.release.label, "taken",
                                f"highest applicable Full release above {current}"))
        return finish(best, f"Full release {_version(best)}: the highest applicable Full "
                      f"release above {current}.")
    trace.append(TraceEntry(best.release.label, "taken",
                            f"highest applicable Full release; cohort {cohort_slug} has version "
                            "checking disabled, so this is a downgrade"))
    return finish(best, f"Full release {_version(best)} (a downgrade from {current}): version "
                  f"checking is disabled in cohort {cohort_slug}.")


def _effective_cohort(query: Query, device: DeviceState | None, config: Configuration,
                      trace: list[TraceEntry]) -> tuple[str, bool]:
    staged = bool(device and device.staged)
    own = device.cohort if device is not None else config.default_cohort.slug
    if device is None:
        trace.append(TraceEntry("device", "note",
                                f"unknown device {query.device_serial!r}: uses the default "
                                f"cohort {own}"))
    key = config.project_key(query.project_key) if query.project_key else None
    if key is not None and key.cohort_override:
        trace.append(TraceEntry("project key", "note",
                                f"overrides the cohort: {key.cohort_override} instead of {own}"
                                + ("; the device keeps its staged mark" if staged else "")))
        own = key.cohort_override
    else:
        trace.append(TraceEntry("cohort", "note", f"effective cohort {own}"))
    trace.append(TraceEntry("staged", "note",
                            "the device is staged" if staged else "the device is not staged"))
    return own, staged


def _applicable(query: Query, config: Configuration, cohort: str, staged: bool,
                trace: list[TraceEntry]) -> tuple[list[_Candidate], list[_Candidate]]:
    """The applicable releases, and those that would be but are paused (a paused
    must-pass-through release still holds devices below it)."""
    by_ref: dict[object, list[Activation]] = {}
    for activation in config.activations_in(cohort):
        by_ref.setdefault(activation.release, []).append(activation)
    result: list[_Candidate] = []
    held: list[_Candidate] = []
    releases: Sequence[Release | DeltaRelease] = (*config.releases, *config.delta_releases)
    for release in releases:
        if release.software_type != query.software_type:
            continue
        activations = by_ref.get(ref_of(release), [])
        active = [a for a in activations if a.status == "active"]
        if not activations:
            trace.append(TraceEntry(release.label, "skipped", f"not activated in cohort {cohort}"))
            continue
        if not active:
            trace.append(TraceEntry(release.label, "skipped", f"pulled in cohort {cohort}"))
            continue
        if not any(a.kind == "normal" for a in active) and not staged:
            percent = active[0].rollout_percent
            trace.append(TraceEntry(release.label, "skipped",
                                    f"staged rollout ({percent:g}%) and the device is not staged"))
            continue
        payload = _matching_payload(release.payloads, query.attributes)
        serving = [a for a in active if a.paused is None]
        if not serving or (not staged and not any(a.kind == "normal" for a in serving)):
            # like a pulled release for new decisions, until it is resumed
            reason = next(a.paused for a in active if a.paused is not None)
            trace.append(TraceEntry(release.label, "skipped", f"{reason} (in cohort {cohort})"))
            if payload is not None:
                held.append(_Candidate(release, payload))
            continue
        if payload is None:
            trace.append(TraceEntry(release.label, "skipped",
                                    _mismatch_reason(release.payloads, query.attributes)))
            continue
        result.append(_Candidate(release, payload))
    return result, held


def _matching_payload(payloads: Sequence[Payload], attributes: Mapping[str, str]) -> Payload | None:
    return next((p for p in payloads if p.matches(attributes)), None)


def _mismatch_reason(payloads: Sequence[Payload], attributes: Mapping[str, str]) -> str:
    if not payloads:
        return "it has no payload"
    return "no payload matches the device: requires " + "; ".join(
        p.describe_mismatch(attributes) for p in payloads
    )


def _version(c: _Candidate) -> str:
    r = c.release
    return r.to_version if isinstance(r, DeltaRelease) else r.version


def _delta(c: _Candidate) -> DeltaRelease:
    assert isinstance(c.release, DeltaRelease)
    return c.release


def _full(c: _Candidate) -> Release:
    assert isinstance(c.release, Release)
    return c.release


def _highest(scheme: VersionScheme, cs: Sequence[_Candidate]) -> _Candidate | None:
    return max(cs, key=lambda c: sort_key(scheme, _version(c)), default=None)


def _lowest(scheme: VersionScheme, cs: Sequence[_Candidate]) -> _Candidate | None:
    return min(cs, key=lambda c: sort_key(scheme, _version(c)), default=None)
