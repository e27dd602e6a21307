"""The built-in demo project (SPEC §11): the fleet behind the seed's version-matrix figures."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ota_desktop.model import ReleaseRef
from ota_desktop.service import NewDevice, ProjectService
from ota_desktop.store.store import Store

SOFTWARE_TYPE = "main"
HARDWARE = {"hardware_version": "evt"}
STAGING_SEED = 2026

#: (cohort, version, devices)
FLEET = (
    ("default", "0.9", 21_000),
    ("default", "1.1", 36_000),
    ("default", "2.0", 132_000),
    ("default", "2.1", 738_000),
    ("beta", "2.1", 54_000),
)
DEMO_DEVICE_COUNT = sum(n for _, _, n in FLEET)
PROJECT_KEY = "demo-project-key"
RECOVERY_KEY = "factory-recovery"


def write_demo(store: Store, scale: float = 1.0,
               progress: Callable[[int, int], None] | None = None) -> None:
    """Write the demo into an empty store. ``scale`` shrinks the fleet for quick tests."""
    service = ProjectService(store, actor="demo")
    service.create_project("demo", "Demo fleet", "natural")
    service.add_software_type(SOFTWARE_TYPE)
    service.create_cohort("default", "Default", is_default=True)
    service.create_cohort("beta", "Beta testers", protected=False)
    for version in ("1.0", "1.1", "2.0"):
        service.create_release(SOFTWARE_TYPE, version, revision=f"v{version}",
                               notes=f"Full release {version}")
        service.add_payload(ReleaseRef(SOFTWARE_TYPE, version=version),
                            f"main-{version}.swu", size=_size(version, full=True),
                            attributes=HARDWARE)
    for old, new in (("2.0", "2.1"), ("2.1", "2.2")):
        service.create_delta(SOFTWARE_TYPE, old, new, notes=f"Delta {old} to {new}")
        service.add_payload(ReleaseRef(SOFTWARE_TYPE, from_version=old, to_version=new),
                            f"main-{old}-to-{new}.delta.swu", size=_size(new, full=False),
                            attributes=HARDWARE)

    total = sum(int(n * scale) for _, _, n in FLEET)
    service.add_devices(_fleet(scale), progress=(lambda done: progress(done, total))
                        if progress else None)

    service.activate(ReleaseRef(SOFTWARE_TYPE, version="1.0"), "default")
    service.activate(ReleaseRef(SOFTWARE_TYPE, version="2.0"), "default")
    service.activate(ReleaseRef(SOFTWARE_TYPE, from_version="2.0", to_version="2.1"), "default")
    service.activate(ReleaseRef(SOFTWARE_TYPE, from_version="2.1", to_version="2.2"), "beta",
                     kind="staged", rollout_percent=11, seed=STAGING_SEED)
    service.create_project_key(PROJECT_KEY)
    service.create_project_key(RECOVERY_KEY, cohort_override="default")


def _fleet(scale: float) -> Iterator[NewDevice]:
    for cohort, version, count in FLEET:
        prefix = f"{cohort[:3].upper()}-{version.replace('.', '')}"
        for i in range(int(count * scale)):
            yield NewDevice(serial=f"{prefix}-{i:06d}", current_version=version, cohort=cohort,
                            software_type=SOFTWARE_TYPE, attributes=HARDWARE)


def _size(version: str, full: bool) -> int:
    """Plausible payload sizes: full images ~24 MiB, deltas ~3 MiB."""
    base = 24 * 1024 * 1024 if full else 3 * 1024 * 1024
    return base + sum(ord(ch) for ch in version) * 1024
