"""Signed offline bundles for factory stations with no network: releases out from the project,
check-ins back from the station (SPEC §9). ``import_bundle`` takes either kind."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ota_desktop import signing
from ota_desktop.artifacts import artifact_root
from ota_desktop.bundle.archive import (
    BundleRefused,
    NeedsTrust,
    Progress,
    check_fingerprint,
    fingerprint,
    read_bundle,
)
from ota_desktop.bundle.checkins import (
    CheckinBundleSummary,
    export_checkins,
    import_checkins,
    station_key_for,
)
from ota_desktop.bundle.releases import (
    NeedsReplace,
    ReleaseBundleSummary,
    export_releases,
    import_releases,
    release_key_for,
    source,
)
from ota_desktop.store.store import Store

__all__ = ["BundleRefused", "CheckinBundleSummary", "Keys", "NeedsReplace", "NeedsTrust",
           "ReleaseBundleSummary",
           "export_checkins", "export_releases", "fingerprint", "import_bundle", "keys"]


def import_bundle(store: Store, path: Path, trust: str | None = None,
                  station_name: str | None = None, progress: Progress | None = None,
                  replace: bool = False) -> ReleaseBundleSummary | CheckinBundleSummary:
    """Verify ``path`` whole (signature, every member's hash, trust, freshness), then apply
    it in one transaction: a release bundle on a station, a check-in bundle at HQ. A refused
    bundle leaves the project exactly as it was."""
    work = artifact_root(store.path) if store.path else Path(tempfile.gettempdir())
    for_releases = release_key_for(store, trust, replace)
    for_checkins = station_key_for(store, trust)

    def key_for(manifest: dict[str, Any]) -> signing.PublicKey:
        return (for_releases if manifest["kind"] == "releases" else for_checkins)(manifest)

    if trust is not None:
        check_fingerprint(trust)
    made_folder = not work.exists()
    _remove_stale_work(work)
    try:
        bundle = read_bundle(path, work, key_for, progress)
        try:
            if bundle.kind == "releases":
                return import_releases(store, bundle, station_name)
            return import_checkins(store, bundle)
        finally:
            bundle.cleanup()
    finally:
        if made_folder and work.is_dir() and not any(work.iterdir()):
            work.rmdir()


STALE_S = 3600


def _remove_stale_work(folder: Path) -> None:
    """Work folders an import left when its process was killed (an import in progress
    touches its folder far more often than this)."""
    if not folder.is_dir():
        return
    for old in folder.glob(".bundle-*"):
        with contextlib.suppress(OSError):
            if time.time() - old.stat().st_mtime > STALE_S:
                shutil.rmtree(old, ignore_errors=True)


@dataclass(frozen=True)
class Keys:
    """Fingerprints to compare between HQ and a station before trusting a first bundle."""

    signing_key: str | None  # this project's signing key (it signs release bundles)
    station_key: str | None  # this station's own key (it signs check-in bundles)
    station_name: str | None
    trusted_project: str | None  # on a station: the project key it takes bundles from
    trusted_stations: list[tuple[str, str, int]]  # at HQ: (name, fingerprint, last bundle)


def keys(store: Store) -> Keys:
    db = store.db
    signing_row = db.execute("SELECT public_pem FROM signing_key").fetchone()
    station_row = db.execute("SELECT name, public_pem FROM station_key").fetchone()
    current = source(store)
    return Keys(
        fingerprint(signing_row[0]) if signing_row else None,
        fingerprint(station_row[1]) if station_row else None,
        station_row[0] if station_row else None,
        fingerprint(current.public_pem) if current else None,
        [(r[0], r[1], r[2]) for r in db.execute(
            "SELECT name, fingerprint, last_seq FROM bundle_stations ORDER BY name")])
