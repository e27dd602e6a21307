"""``ota-desktop bundle …``: signed offline bundles for factory stations with no network.

At HQ ``bundle export`` writes the releases, payload files, cohorts, activations and fleet a
station needs (signed with the project key: its passphrase is read from stdin); on the station
``bundle import`` takes it and ``bundle checkins`` writes what its devices reported; at HQ
``bundle import`` takes that back. ``bundle keys`` shows the fingerprints to compare before a
first import is trusted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ota_desktop.errors import BadInput

LARGE = 8 * 1024 * 1024


def register(sub: Any, command: Callable[..., argparse.ArgumentParser]
             ) -> dict[str, Callable[[argparse.Namespace], int]]:
    bundle = command("bundle", "signed offline bundles for factory stations", db=False)
    bsub = bundle.add_subparsers(dest="bundle_command", metavar="ACTION", required=True)
    p = bsub.add_parser("export", help="write a release bundle for stations (the signing "
                                       "key's passphrase is read from stdin)")
    p.add_argument("--db", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--every-release", action="store_true",
                   help="carry the files of every release, not only of active ones")
    p = bsub.add_parser("checkins", help="on a station: write the check-ins since the last "
                                         "check-in bundle")
    p.add_argument("--db", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--all", action="store_true", help="every check-in, not only new ones")
    p = bsub.add_parser("import", help="take a bundle: releases on a station, check-ins at HQ")
    p.add_argument("--db", required=True, type=Path, help="the project file (a station's is "
                                                          "created by its first import)")
    p.add_argument("file", type=Path)
    p.add_argument("--trust", metavar="FINGERPRINT",
                   help="the first time: the fingerprint of the key that signed it")
    p.add_argument("--station-name", help="a new station's name (default: the host name)")
    p.add_argument("--replace", action="store_true",
                   help="the first time, into a project with releases of its own: make it the "
                        "station, replacing them")
    p = bsub.add_parser("keys", help="fingerprints to compare before trusting a first bundle")
    p.add_argument("--db", required=True, type=Path)
    return {"bundle": _cmd_bundle}


class _Progress:
    """Progress on stderr in steps of 10%, for bundles large enough to take a while."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.shown = -1

    def __call__(self, done: int, total: int) -> None:
        step = 100 * done // total // 10 * 10 if total else 100
        if step > self.shown and total >= LARGE:
            self.shown = step
            print(f"{self.what}: {step}%", file=sys.stderr, flush=True)


def _cmd_bundle(args: argparse.Namespace) -> int:
    from ota_desktop.cli import _open_existing

    if args.bundle_command == "import":
        return _import(args)
    store = _open_existing(args.db)
    from ota_desktop import bundle

    if args.bundle_command == "keys":
        found = bundle.keys(store)
        # each fingerprint ends its line, so the whole line after the colon can be copied
        print(f"signing key (signs release bundles): {found.signing_key or 'none'}")
        station = f" of station {found.station_name}" if found.station_name else ""
        print(f"station key{station} (signs check-ins): {found.station_key or 'none'}")
        if found.trusted_project:
            print(f"takes release bundles signed by: {found.trusted_project}")
        for name, fp, seq in found.trusted_stations:
            print(f"takes check-ins (last: bundle {seq}) from station {name}: {fp}")
        return 0
    if args.bundle_command == "export":
        from ota_desktop.cli_signing import _line
        from ota_desktop.service import ProjectService

        if not store.db.execute("SELECT 1 FROM signing_key").fetchone():
            raise BadInput("This project has no signing key yet (signing-key create): a "
                           "release bundle is signed with it.")
        key = ProjectService(store).signing_key(_line("passphrase of the signing key"))
        release_summary = bundle.export_releases(store, args.out, key, args.every_release,
                                                 _Progress("writing"))
        print(f"Wrote {args.out}: {release_summary.describe()}.")
        return 0
    summary = bundle.export_checkins(store, args.out, args.all, _Progress("writing"))
    print(f"Wrote {args.out}: {summary.describe()}.")
    return 0


def _import(args: argparse.Namespace) -> int:
    from ota_desktop import bundle
    from ota_desktop.store.store import Store

    new_file = not args.db.exists()
    if not args.file.is_file():
        raise BadInput(f"There is no bundle file at {args.file}.")
    store = Store.open(args.db)
    try:
        summary = bundle.import_bundle(store, args.file, args.trust, args.station_name,
                                       _Progress("verifying"), args.replace)
    except BaseException:
        store.close()
        if new_file:  # a refused first import leaves no file behind
            for suffix in ("", "-wal", "-shm"):
                Path(f"{args.db}{suffix}").unlink(missing_ok=True)
        raise
    print(f"Imported {args.file} into {args.db}: {summary.describe()}.")
    return 0
