"""The release model as plain, immutable values: what the resolver and the matrix read.

The store turns database rows into a :class:`Configuration`; nothing here does I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from ota_desktop.versions import VersionScheme, get_scheme

DEFAULT_SOFTWARE_TYPE = "main"
ActivationKind = Literal["normal", "staged"]
ActivationStatus = Literal["active", "pulled"]


def attributes_key(attributes: Mapping[str, str]) -> str:
    """Canonical text of a device's attributes, used to group devices that resolve alike."""
    return json.dumps(dict(sorted(attributes.items())), separators=(",", ":"))


@dataclass(frozen=True)
class Project:
    slug: str
    name: str
    version_scheme: str = "natural"
    allow_build_metadata: bool = False

    @property
    def scheme(self) -> VersionScheme:
        return get_scheme(self.version_scheme, self.allow_build_metadata)


@dataclass(frozen=True)
class Cohort:
    slug: str
    name: str
    is_default: bool = False
    disable_version_checking: bool = False
    protected: bool = True
    polling_interval_s: int = 3600


@dataclass(frozen=True)
class Payload:
    filename: str
    size: int = 0
    sha256: str = ""
    sha1: str = ""
    md5: str = ""
    attributes: Mapping[str, str] = field(default_factory=dict)
    signature: str | None = None
    id: int | None = None
    #: free key=value metadata (memfault-cli --extra-metadata); never matched against devices
    extra: Mapping[str, str] = field(default_factory=dict)

    def matches(self, device_attributes: Mapping[str, str]) -> bool:
        """Every attribute the payload requires must equal the device's; absent keys match any."""
        return all(device_attributes.get(k) == v for k, v in self.attributes.items())

    def describe_mismatch(self, device_attributes: Mapping[str, str]) -> str:
        wrong = [
            f"{k}={v} (device: {device_attributes.get(k, 'none')})"
            for k, v in sorted(self.attributes.items())
            if device_attributes.get(k) != v
        ]
        return ", ".join(wrong)


@dataclass(frozen=True)
class Release:
    """A Full release; ``must_pass_through`` marks an MPT release."""

    software_type: str
    version: str
    must_pass_through: bool = False
    revision: str = ""
    notes: str = ""
    payloads: tuple[Payload, ...] = ()
    id: int | None = None

    @property
    def label(self) -> str:
        return f"Full {self.version}{' (MPT)' if self.must_pass_through else ''}"


@dataclass(frozen=True)
class DeltaRelease:
    software_type: str
    from_version: str
    to_version: str
    revision: str = ""
    notes: str = ""
    payloads: tuple[Payload, ...] = ()
    id: int | None = None

    @property
    def label(self) -> str:
        return f"Delta {self.from_version}→{self.to_version}"


@dataclass(frozen=True)
class ReleaseRef:
    """Names a Full release (version) or a Delta release (from/to) within a software type."""

    software_type: str
    version: str | None = None
    from_version: str | None = None
    to_version: str | None = None

    @property
    def is_delta(self) -> bool:
        return self.version is None

    @property
    def label(self) -> str:
        """``2.0`` for a Full release, ``2.0->2.1`` for a Delta (as used in operation entities)."""
        return self.version or f"{self.from_version}->{self.to_version}"


@dataclass(frozen=True)
class RolloutGuard:
    """Pause an activation when failure feedback from its cohort passes a threshold: a count
    of failed devices, or a share of the devices that reported a result (counted only once
    ``min_reports`` devices have, so one early failure is not "100%"). Either one trips it."""

    failures: int | None = None
    percent: float | None = None
    min_reports: int = 20

    def describe(self) -> str:
        parts = []
        if self.failures is not None:
            parts.append(f"{self.failures} failure{'s' if self.failures != 1 else ''}")
        if self.percent is not None:
            parts.append(f"{self.percent:g}% failures (once {self.min_reports} reported)")
        return "pause at " + " or ".join(parts) if parts else "no guard"


@dataclass(frozen=True)
class Activation:
    release: ReleaseRef
    cohort: str
    kind: ActivationKind = "normal"
    rollout_percent: float | None = None
    status: ActivationStatus = "active"
    activated_by: str = ""
    id: int | None = None
    guard: RolloutGuard | None = None
    #: why the activation is paused (not served), e.g. "paused by rollout guard: 12 failures
    #: ≥ 10"; None while it is served
    paused: str | None = None

    @property
    def serving(self) -> bool:
        """Active and not paused: the resolver offers it."""
        return self.status == "active" and self.paused is None


@dataclass(frozen=True)
class ProjectKey:
    key: str
    cohort_override: str | None = None


@dataclass(frozen=True)
class DeviceState:
    """What the store knows of a device that the resolver needs."""

    serial: str
    cohort: str
    software_type: str
    current_version: str | None
    attributes: Mapping[str, str] = field(default_factory=dict)
    staged: bool = False


@dataclass(frozen=True)
class DeviceGroup:
    """Devices of one cohort and software type that resolve alike: same version, attributes and
    staged mark."""

    version: str
    attributes_key: str
    staged: bool
    count: int

    @property
    def attributes(self) -> dict[str, str]:
        return dict(json.loads(self.attributes_key))


@dataclass(frozen=True)
class Query:
    """A device's question to the Latest Release endpoint."""

    device_serial: str
    software_type: str = DEFAULT_SOFTWARE_TYPE
    current_version: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)
    project_key: str | None = None


@dataclass(frozen=True)
class Configuration:
    """A read-only snapshot of one project's release configuration (no devices)."""

    project: Project
    software_types: tuple[str, ...] = (DEFAULT_SOFTWARE_TYPE,)
    cohorts: tuple[Cohort, ...] = ()
    releases: tuple[Release, ...] = ()
    delta_releases: tuple[DeltaRelease, ...] = ()
    activations: tuple[Activation, ...] = ()
    project_keys: tuple[ProjectKey, ...] = ()

    @property
    def scheme(self) -> VersionScheme:
        return self.project.scheme

    @property
    def all_releases(self) -> tuple[Release | DeltaRelease, ...]:
        """Full releases, then Delta releases."""
        return (*self.releases, *self.delta_releases)

    @property
    def default_cohort(self) -> Cohort:
        for cohort in self.cohorts:
            if cohort.is_default:
                return cohort
        raise LookupError("the project has no default cohort")

    def cohort(self, slug: str) -> Cohort | None:
        return next((c for c in self.cohorts if c.slug == slug), None)

    def project_key(self, key: str) -> ProjectKey | None:
        return next((k for k in self.project_keys if k.key == key), None)

    def find_release(self, ref: ReleaseRef) -> Release | DeltaRelease | None:
        if ref.is_delta:
            return next(
                (
                    d
                    for d in self.delta_releases
                    if d.software_type == ref.software_type
                    and d.from_version == ref.from_version
                    and d.to_version == ref.to_version
                ),
                None,
            )
        return next(
            (
                r
                for r in self.releases
                if r.software_type == ref.software_type and r.version == ref.version
            ),
            None,
        )

    def activations_in(self, cohort: str) -> tuple[Activation, ...]:
        return tuple(a for a in self.activations if a.cohort == cohort)


def ref_of(release: Release | DeltaRelease) -> ReleaseRef:
    if isinstance(release, DeltaRelease):
        return ReleaseRef(
            release.software_type, from_version=release.from_version, to_version=release.to_version
        )
    return ReleaseRef(release.software_type, version=release.version)
