"""Release bundles: what a factory station with no network needs, carried from the project
("HQ") on a file: the configuration (releases, payload rows, cohorts, activations, staged
draws, project keys), the fleet, and the payload files of what is active.

A station takes bundles from one project and one signing key: the first import names the key
by its fingerprint (read off HQ), later ones must be signed by that key, come from that
project, and be newer than the last one taken, so an old bundle cannot be replayed to roll a
station back. The import replaces the station's configuration wholesale (a station serves
what HQ decided), in one transaction, only after every byte was verified.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ota_desktop import signing
from ota_desktop.artifacts import ArtifactStore, artifact_root
from ota_desktop.bundle.archive import (
    BundleRefused,
    BundleWriter,
    KeyFor,
    NeedsTrust,
    Progress,
    VerifiedBundle,
    allocate_seq,
    check_target,
    fingerprint,
    record_export,
    same_fingerprint,
)
from ota_desktop.errors import BadInput, NotFound, OtaError, RuleViolation
from ota_desktop.service import ProjectService
from ota_desktop.service.base import utc_now
from ota_desktop.service.fleet import check_text
from ota_desktop.store.store import Store
from ota_desktop.sync.feed import CONFIG_TABLES, configuration_rows, server_id
from ota_desktop.sync.mirror import (
    keep_devices_in_their_cohorts,
    replace_configuration_rows,
    upsert_devices,
)

DEVICE_PAGE = 5000


@dataclass(frozen=True)
class ReleaseBundleSummary:
    seq: int
    releases: int
    files: int
    file_bytes: int
    devices: int

    def describe(self) -> str:
        return (f"bundle {self.seq}: {self.releases} releases, {self.files} payload files "
                f"({self.file_bytes / 1e6:,.1f} MB), {self.devices:,} devices")


def _device_rows(store: Store) -> Iterator[list[Any]]:
    cursor = store.db.execute(
        "SELECT d.serial, c.slug, d.software_type, d.current_version, d.attributes, d.staged "
        "FROM devices d JOIN cohorts c ON c.id = d.cohort_id ORDER BY d.id")
    while rows := cursor.fetchmany(DEVICE_PAGE):
        yield from (list(r) for r in rows)


def _files_needed(store: Store, every_release: bool) -> list[tuple[str, int]]:
    """(sha256, size) of the payload files to carry: those of releases active somewhere, or
    of every release."""
    active = "" if every_release else (
        " WHERE p.release_id IN (SELECT release_id FROM activations WHERE status = 'active') "
        "OR p.delta_release_id IN (SELECT delta_release_id FROM activations "
        "WHERE status = 'active')")
    return [(r[0], r[1]) for r in store.db.execute(
        f"SELECT DISTINCT p.sha256, p.size FROM payloads p{active} ORDER BY p.sha256")
        if r[0]]


def export_releases(store: Store, target: Path, key: signing.PrivateKey,
                    every_release: bool = False,
                    progress: Progress | None = None) -> ReleaseBundleSummary:
    """Write a signed release bundle of ``store``'s project to ``target``."""
    if store.path is None:
        raise BadInput("Only a project file (not an in-memory project) can be bundled.")
    check_target(store.path, target)
    files = ArtifactStore(artifact_root(store.path))
    public = signing.public_pem(key)
    found = store.db.execute("SELECT public_pem FROM signing_key").fetchone()
    if found is None or found[0] != public:
        raise BadInput("That key is not this project's signing key.")
    with tempfile.TemporaryDirectory(prefix="ota-bundle-") as spool:
        config_file, devices_file = Path(spool) / "configuration.json", Path(spool) / "d.jsonl"
        conn = store.db.conn
        conn.execute("BEGIN")  # one read snapshot: the fleet's cohorts are the config's
        try:
            config = configuration_rows(store)
            with open(devices_file, "w", encoding="utf-8") as out:
                devices = 0
                for row in _device_rows(store):
                    out.write(json.dumps(row, separators=(",", ":")) + "\n")
                    devices += 1
            needed = _files_needed(store, every_release)
        finally:
            conn.rollback()
        config_file.write_text(json.dumps(config), encoding="utf-8")
        missing = [sha for sha, _ in needed if not files.path_for(sha).is_file()]
        if missing:
            raise NotFound(f"{len(missing)} payload file(s) are not in this project's artifact "
                           f"folder (first: {missing[0][:12]}…); add them again or pass every "
                           "file; no bundle was written.")
        total = sum(size for _, size in needed) + config_file.stat().st_size \
            + devices_file.stat().st_size
        project = store.project()
        releases = len(config["tables"]["releases"]["rows"]) \
            + len(config["tables"]["delta_releases"]["rows"])
        try:
            with BundleWriter(target, total, progress) as writer:
                writer.add_file("configuration.json", config_file)
                writer.add_file("devices.jsonl", devices_file)
                for sha, _ in needed:
                    writer.add_file(f"artifacts/{sha}", files.path_for(sha), expect_sha256=sha)
                seq = allocate_seq(store, "releases")
                summary = ReleaseBundleSummary(seq, releases, len(needed),
                                               sum(s for _, s in needed), devices)
                writer.finish({
                    "kind": "releases", "seq": seq, "created_at": utc_now(),
                    "project": {"id": server_id(store), "slug": project.slug,
                                "name": project.name},
                    "signer": {"algorithm": signing.algorithm_of(key), "public_pem": public},
                    "summary": summary.__dict__,
                }, key)
        except OSError as exc:
            raise OtaError(f"Could not write {target}: {exc.strerror or exc}; no bundle was "
                           "written.") from exc
        record_export(store, seq, summary.__dict__)
    return summary


@dataclass(frozen=True)
class Source:
    """The project a station takes bundles from."""

    project_id: str
    slug: str
    algorithm: str
    public_pem: str
    last_seq: int


def source(store: Store) -> Source | None:
    row = store.db.execute("SELECT project_id, slug, algorithm, public_pem, last_seq "
                           "FROM bundle_source").fetchone()
    return Source(*row) if row else None


def release_key_for(store: Store, trust: str | None, replace: bool = False) -> KeyFor:
    """The check ``read_bundle`` makes before verifying a release bundle on a station
    (``replace``: a project of the same name may become the station, losing its own
    releases)."""

    def key_for(manifest: dict[str, Any]) -> signing.PublicKey:
        signer_pem = manifest["signer"]["public_pem"]
        current = source(store)
        if current is None:
            _refuse_if_not_a_station(store, manifest, replace)
            if trust is None:
                raise NeedsTrust(
                    "This file has not taken a bundle before: confirm the project's signing "
                    f"key by its fingerprint ({fingerprint(signer_pem)}; compare it with "
                    "'ota-desktop bundle keys' at HQ) and import again trusting it.",
                    f"project {manifest['project']['slug']}", fingerprint(signer_pem))
            if not same_fingerprint(trust, fingerprint(signer_pem)):
                raise BundleRefused("The bundle is signed by another key than the one you "
                                    "trusted; compare the fingerprint with HQ's again.")
            return signing.load_public(signer_pem)
        _check_same_source(current, manifest, trust)
        return signing.load_public(current.public_pem)

    return key_for


def _check_same_source(current: Source, manifest: dict[str, Any], trust: str | None) -> None:
    if manifest["project"]["id"] != current.project_id:
        same_name = manifest["project"]["slug"] == current.slug
        raise BundleRefused(
            "The bundle comes from another project"
            + (f" file that is also called {current.slug!r} (id {manifest['project']['id'][:8]}"
               f"…, this station's is {current.project_id[:8]}…)" if same_name
               else f" ({manifest['project']['slug']!r})")
            + f"; this station takes bundles from {current.slug!r} only.")
    if manifest["signer"]["public_pem"] != current.public_pem:
        raise BundleRefused("The bundle is signed by another key than the one this station "
                            f"trusts ({fingerprint(current.public_pem)}).")
    if trust is not None and not same_fingerprint(trust, fingerprint(current.public_pem)):
        raise BundleRefused("The fingerprint you gave is not that of the key this station "
                            "trusts; nothing was imported.")


def _refuse_if_not_a_station(store: Store, manifest: dict[str, Any], replace: bool) -> None:
    if store.db.execute("SELECT 1 FROM sync_link WHERE active = 1").fetchone():
        raise BundleRefused("This project is connected to a server and takes its releases "
                            "by sync; import bundles into a station's own file.")
    if store.db.execute("SELECT 1 FROM signing_key").fetchone():
        raise BundleRefused("This file has its own signing key, so it is a project (HQ) and "
                            "not a station; import the bundle into a station's own file.")
    if store.has_project() and store.project().slug != manifest["project"]["slug"]:
        raise BundleRefused(f"This file holds project {store.project().slug!r}; the bundle is "
                            f"for {manifest['project']['slug']!r}. Import it into a new file.")
    if server_id(store) == manifest["project"]["id"]:
        raise BundleRefused("This bundle was exported from this very file.")
    own = store.db.execute("SELECT (SELECT count(*) FROM releases) + "
                           "(SELECT count(*) FROM delta_releases)").fetchone()[0]
    if own and not replace:
        raise NeedsReplace(
            f"This file holds project {manifest['project']['slug']!r} with {own} release(s) of "
            "its own; taking the bundle makes it a station and replaces them with HQ's. Import "
            "into a new file, or confirm the replacement (--replace).", own)


class NeedsReplace(BundleRefused):
    """A first bundle into a project that has releases of its own: the user confirms."""

    def __init__(self, message: str, releases: int) -> None:
        super().__init__(message)
        self.releases = releases


#: what a bundle's content may break; each becomes "does not fit" and a rollback
CONTENT_ERRORS = (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError,
                  sqlite3.DataError, ValueError, TypeError, KeyError, OverflowError,
                  RecursionError, UnicodeError)


def import_releases(store: Store, bundle: VerifiedBundle,
                    station_name: str | None = None) -> ReleaseBundleSummary:
    """Apply a verified release bundle on a station, in one transaction. Payload files go
    into place before the commit (they are content-addressed, so a rollback leaves at most
    an unused file), so a committed release never points at a file still missing."""
    manifest = bundle.manifest
    seq = manifest["seq"]
    tables = _checked_tables(store, bundle.json("configuration.json"))
    files = ArtifactStore(artifact_root(store.path)) if store.path else None
    service = ProjectService(store, actor="bundle")
    db = store.db
    try:
        with store.writing():
            current = source(store)  # again, under the write lock: imports run one at a time
            if current is not None:
                _check_same_source(current, manifest, None)
                if seq <= current.last_seq:
                    raise BundleRefused(f"This is bundle {seq}; the station already took "
                                        f"bundle {current.last_seq}, so it is old or replayed.")
            devices = _replace_configuration(store, tables, bundle)
            signer = manifest["signer"]["public_pem"]
            db.execute(
                "INSERT INTO bundle_source (id, project_id, slug, algorithm, public_pem, "
                "last_seq, imported_at) VALUES (1, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO "
                "UPDATE SET last_seq = max(last_seq, excluded.last_seq), "
                "imported_at = excluded.imported_at",
                [manifest["project"]["id"], manifest["project"]["slug"],
                 signing.algorithm_of(signing.load_public(signer)), signer, seq, utc_now()])
            _ensure_station_key(store, station_name)
            summary = manifest.get("summary", {})
            db.execute("INSERT INTO bundle_imports (kind, source, seq, at, summary) VALUES "
                       "('releases', ?, ?, ?, ?)",
                       [manifest["project"]["id"], seq, utc_now(), json.dumps(summary)])
            with service.operation("bundle.import", f"bundle:{seq}") as op:
                op.after = {"seq": seq, "project": manifest["project"]["slug"],
                            "devices": devices}
            if files is not None:
                for name, path in bundle.files.items():
                    if name.startswith("artifacts/"):
                        destination = files.path_for(name.removeprefix("artifacts/"))
                        destination.parent.mkdir(parents=True, exist_ok=True)
                        os.replace(path, destination)
    except CONTENT_ERRORS as exc:
        raise BundleRefused(f"The bundle's content does not fit this project ({exc}); "
                            "nothing was imported.") from exc
    payloads = [n for n in bundle.files if n.startswith("artifacts/")]
    return ReleaseBundleSummary(seq, int(summary.get("releases", 0)), len(payloads),
                                int(summary.get("file_bytes", 0)), devices)


def _replace_configuration(store: Store, tables: dict[str, tuple[list[str], list[Any]]],
                           bundle: VerifiedBundle) -> int:
    """HQ's configuration rows in place of the station's, then HQ's fleet; returns the
    number of devices."""
    old_cohorts = replace_configuration_rows(store, tables)
    _check_configuration(store)
    keep_devices_in_their_cohorts(store, old_cohorts)
    devices = 0
    page: list[list[Any]] = []
    software_types = set(store.software_types())
    for row in bundle.lines("devices.jsonl"):
        page.append(_device(row, software_types))
        if len(page) == DEVICE_PAGE:
            devices += _upsert(store, page)
            page = []
    devices += _upsert(store, page)
    problems = store.db.execute("PRAGMA foreign_key_check").fetchall()
    if problems:
        raise BundleRefused(f"The bundle's {problems[0][0]} rows point at rows it does not "
                            "hold; nothing was imported.")
    return devices


def _check_configuration(store: Store) -> None:
    """What a station cannot serve without: one project, one default cohort."""
    db = store.db
    if db.execute("SELECT count(*) FROM project").fetchone()[0] != 1:
        raise BundleRefused("The bundle's configuration holds no project.")
    if db.execute("SELECT count(*) FROM cohorts WHERE is_default = 1").fetchone()[0] != 1:
        raise BundleRefused("The bundle's configuration has no default cohort.")
    store.project()  # its version scheme is one this version knows


def _device(row: Any, software_types: set[str]) -> list[Any]:
    if not isinstance(row, list) or len(row) != 6 or not all(
            isinstance(v, str) for v in row[:5]) or row[5] not in (0, 1, True, False):
        raise BundleRefused("The bundle's device rows do not fit this version of OTA Desktop.")
    if row[2] not in software_types:
        raise BundleRefused(f"The bundle's device {row[0]} has an unknown software type.")
    try:
        attributes = json.loads(row[4])
    except (ValueError, RecursionError):
        attributes = None
    if not isinstance(attributes, dict) or not all(
            isinstance(v, str) for v in attributes.values()):
        raise BundleRefused(f"The bundle's device {row[0]} has attributes that are not an "
                            "object of strings.")
    return row


def _checked_tables(store: Store, config: Any) -> dict[str, tuple[list[str], list[Any]]]:
    """The configuration rows, with their column names held to this schema's (they go into
    SQL), each named once, and every row the right width with plain values."""
    tables = config.get("tables") if isinstance(config, dict) else None
    if not isinstance(tables, dict):
        raise BundleRefused("The bundle's configuration is incomplete.")
    checked = {}
    for name in CONFIG_TABLES:
        table = tables.get(name)
        known = {r[1] for r in store.db.execute(f"PRAGMA table_info({name})")}
        columns = table.get("columns") if isinstance(table, dict) else None
        rows = table.get("rows") if isinstance(table, dict) else None
        if not isinstance(columns, list) or not isinstance(rows, list) \
                or not all(isinstance(c, str) for c in columns) \
                or not set(columns) <= known or len(set(columns)) != len(columns) \
                or not all(isinstance(r, list) and len(r) == len(columns) and all(
                    v is None or isinstance(v, (str, int, float)) for v in r) for r in rows):
            raise BundleRefused(f"The bundle's {name} rows do not fit this version of OTA "
                                "Desktop.")
        checked[name] = (columns, rows)
    return checked


def _upsert(store: Store, devices: list[list[Any]]) -> int:
    """HQ's device rows. HQ sets cohorts and staged marks; a device this station has seen
    itself keeps the version and attributes it reported here (HQ's may be older), and the
    station keeps its own last-seen times: they are what it reports back."""
    try:
        return upsert_devices(store, [[*d, None] for d in devices], station=True)
    except RuleViolation as exc:
        raise BundleRefused(f"The bundle does not hold together: {exc}") from exc


def _ensure_station_key(store: Store, name: str | None) -> None:
    if name is not None:
        try:
            check_text(name, "A station name")
        except BadInput as exc:
            raise BundleRefused(str(exc)) from exc
        if not name.strip() or len(name) > 64 or "<" in name or ">" in name:
            raise BundleRefused("A station name is 1–64 characters without < or >.")
    """A station's own key, made at its first import: it signs the check-ins it sends back.
    It is stored unencrypted in the station's file (like an SSH host key), so a station
    exports check-ins unattended."""
    if store.db.execute("SELECT 1 FROM station_key").fetchone():
        if name:  # renaming the station (its key stays)
            store.db.execute("UPDATE station_key SET name = ?", [name])
        return
    key = signing.generate("ed25519")
    store.db.execute(
        "INSERT INTO station_key (id, name, algorithm, public_pem, private_pem, created_at) "
        "VALUES (1, ?, 'ed25519', ?, ?, ?)",
        [name or socket.gethostname() or "station", signing.public_pem(key),
         signing.unencrypted_pem(key), utc_now()])
