"""Small builders for pure resolver and matrix tests."""

from __future__ import annotations

from ota_desktop.model import (
    Activation,
    Cohort,
    Configuration,
    DeltaRelease,
    DeviceState,
    Payload,
    Project,
    ProjectKey,
    Query,
    Release,
    ReleaseRef,
)

EVT = {"hardware_version": "evt"}


def full(version: str, mpt: bool = False, hw: str = "evt", st: str = "main") -> Release:
    return Release(st, version, must_pass_through=mpt,
                   payloads=(Payload(f"fw-{version}.bin", attributes={"hardware_version": hw}),))


def delta(old: str, new: str, hw: str = "evt", st: str = "main") -> DeltaRelease:
    return DeltaRelease(st, old, new,
                        payloads=(Payload(f"d-{old}-{new}.bin", attributes={"hardware_version": hw}),))


def on(release: Release | DeltaRelease, cohort: str = "default", staged: float | None = None,
       pulled: bool = False) -> Activation:
    if isinstance(release, DeltaRelease):
        ref = ReleaseRef(release.software_type, from_version=release.from_version,
                         to_version=release.to_version)
    else:
        ref = ReleaseRef(release.software_type, version=release.version)
    return Activation(ref, cohort, kind="staged" if staged else "normal",
                      rollout_percent=staged, status="pulled" if pulled else "active")


def config(releases: list[Release | DeltaRelease], activations: list[Activation],
           cohorts: list[Cohort] | None = None, keys: list[ProjectKey] | None = None,
           scheme: str = "natural") -> Configuration:
    return Configuration(
        project=Project("p", "P", scheme),
        cohorts=tuple(cohorts or [Cohort("default", "Default", is_default=True),
                                  Cohort("beta", "Beta")]),
        releases=tuple(r for r in releases if isinstance(r, Release)),
        delta_releases=tuple(r for r in releases if isinstance(r, DeltaRelease)),
        activations=tuple(activations),
        project_keys=tuple(keys or []),
    )


def device(version: str | None, cohort: str = "default", staged: bool = False,
           serial: str = "SN1", attributes: dict[str, str] | None = None) -> DeviceState:
    return DeviceState(serial, cohort, "main", version, attributes or EVT, staged)


def query(version: str | None, key: str | None = None, attributes: dict[str, str] | None = None,
          st: str = "main", serial: str = "SN1") -> Query:
    return Query(serial, st, version, attributes if attributes is not None else EVT, key)
