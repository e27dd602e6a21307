"""Read-side helpers that combine the store with the pure core."""

from __future__ import annotations

from collections.abc import Mapping

from ota_desktop.matrix import VersionMatrix, compute_matrix
from ota_desktop.model import Configuration, Query
from ota_desktop.resolver import Decision, resolve
from ota_desktop.store.store import Store


def decide_for_device(
    store: Store,
    serial: str,
    *,
    software_type: str | None = None,
    current_version: str | None = None,
    attributes: Mapping[str, str] | None = None,
    project_key: str | None = None,
    config: Configuration | None = None,
) -> Decision:
    """The decision ``serial`` would get: stored values, overridden by explicit ones."""
    config = config or store.configuration()
    row = store.device(serial)
    device = row.state() if row else None
    merged = dict(device.attributes) if device else {}
    merged.update(attributes or {})
    query = Query(
        device_serial=serial,
        software_type=software_type or (device.software_type if device else None)
        or (config.software_types[0] if config.software_types else "main"),
        current_version=current_version if current_version is not None
        else (device.current_version if device else None),
        attributes=merged,
        project_key=project_key,
    )
    return resolve(query, device, config)


def matrix_for(store: Store, cohort: str, software_type: str,
               config: Configuration | None = None) -> VersionMatrix:
    config = config or store.configuration()
    return compute_matrix(config, cohort, software_type, store.groups(cohort, software_type))
