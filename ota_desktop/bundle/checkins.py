"""Check-in bundles: what a factory station's devices reported, carried back to the project
("HQ"): devices seen (version, attributes, last seen), their version history, and hawkBit
actions and feedback. Signed with the station's own key; HQ takes a station's bundles once it
trusts that key (by fingerprint, the first time), only for its own project, and only newer
than the last one it took from that station.

A check-in bundle carries what arrived since the station's previous one (with a minute of
overlap, so a check-in committed while the last export ran is never skipped); importing the
same report twice changes nothing, so the overlap is harmless.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ota_desktop import signing
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
from ota_desktop.bundle.releases import CONTENT_ERRORS
from ota_desktop.errors import BadInput, OtaError
from ota_desktop.guard import Result, record_results
from ota_desktop.model import attributes_key
from ota_desktop.service import ProjectService
from ota_desktop.service.base import utc_now
from ota_desktop.service.fleet import check_text
from ota_desktop.store.store import Store
from ota_desktop.sync.feed import server_id

OVERLAP = dt.timedelta(minutes=1)
PAGE = 5000
_QUERIES = {
    "devices": "SELECT d.serial, c.slug, d.software_type, d.current_version, d.attributes, "
               "d.last_seen FROM devices d JOIN cohorts c ON c.id = d.cohort_id "
               "WHERE d.last_seen >= ? ORDER BY d.id",
    "versions": "SELECT v.rowid, d.serial, v.version, v.reported_at FROM device_versions v "
                "JOIN devices d ON d.id = v.device_id WHERE v.rowid > ? ORDER BY v.rowid",
    "feedback": "SELECT id, serial, action_id, kind, execution, finished, progress, details, "
                "at FROM ddi_feedback WHERE id > ? ORDER BY id",
    "actions": "SELECT serial, action_id, release_label, target_version, payload_id, status, "
               "created_at, updated_at FROM ddi_actions WHERE updated_at >= ?",
}


@dataclass(frozen=True)
class CheckinBundleSummary:
    seq: int
    station: str
    devices: int
    versions: int
    feedback: int
    actions: int
    paused: tuple[str, ...] = ()  # rollouts the station's failures paused here

    def describe(self) -> str:
        return (f"check-ins {self.seq} from {self.station}: {self.devices:,} devices, "
                f"{self.versions:,} version reports, {self.feedback:,} feedback messages, "
                f"{self.actions:,} actions"
                + "".join(f"; {reason}" for reason in self.paused))


def _station(store: Store) -> tuple[str, str, signing.PrivateKey]:
    row = store.db.execute("SELECT name, public_pem, private_pem FROM station_key").fetchone()
    source = store.db.execute("SELECT project_id FROM bundle_source").fetchone()
    if row is None or source is None:
        raise BadInput("This file has not taken a release bundle, so it is not a station and "
                       "does not know which project to report to.")
    return row[0], row[1], signing.load_private(row[2], None)


def export_checkins(store: Store, target: Path, everything: bool = False,
                    progress: Progress | None = None) -> CheckinBundleSummary:
    """Write a signed bundle of the check-ins since the previous one (or all)."""
    name, public, key = _station(store)
    check_target(store.path, target)
    # the last bundle that reached disk (an export that failed left its number, no marks)
    last = store.db.execute("SELECT summary FROM bundle_exports WHERE kind = 'checkins' AND "
                            "json_extract(summary, '$.marks') IS NOT NULL "
                            "ORDER BY id DESC LIMIT 1").fetchone()
    marks = json.loads(last[0])["marks"] if last and not everything else {
        "seen_since": "", "versions_after": 0, "feedback_after": 0}
    started = dt.datetime.now(dt.UTC)
    counts: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="ota-checkins-") as spool:
        conn = store.db.conn
        conn.execute("BEGIN")  # one read snapshot
        try:
            new_marks = dict(marks)
            for part, query in _QUERIES.items():
                after = marks["versions_after" if part == "versions" else
                              "feedback_after" if part == "feedback" else "seen_since"]
                cursor = conn.execute(query, [after])
                with open(Path(spool) / part, "w", encoding="utf-8") as out:
                    counts[part] = 0
                    while rows := cursor.fetchmany(PAGE):
                        for row in rows:
                            if part in ("versions", "feedback"):
                                new_marks[f"{part}_after"] = row[0]
                                row = row[1:]
                            out.write(json.dumps(list(row), separators=(",", ":")) + "\n")
                            counts[part] += 1
        finally:
            conn.rollback()
        new_marks["seen_since"] = (started - OVERLAP).isoformat(timespec="milliseconds")
        project_id, slug = store.db.execute(
            "SELECT project_id, slug FROM bundle_source").fetchone()
        total = sum((Path(spool) / p).stat().st_size for p in _QUERIES)
        try:
            with BundleWriter(target, total, progress) as writer:
                for part in _QUERIES:
                    writer.add_file(f"checkins/{part}.jsonl", Path(spool) / part)
                seq = allocate_seq(store, "checkins")
                summary = CheckinBundleSummary(seq, name, counts["devices"], counts["versions"],
                                               counts["feedback"], counts["actions"])
                writer.finish({
                    "kind": "checkins", "seq": seq, "created_at": utc_now(),
                    "project": {"id": project_id, "slug": slug},
                    "station": {"id": server_id(store), "name": name},
                    "signer": {"algorithm": "ed25519", "public_pem": public},
                    "summary": summary.__dict__,
                }, key)
        except OSError as exc:
            raise OtaError(f"Could not write {target}: {exc.strerror or exc}; no bundle was "
                           "written.") from exc
        # the marks move only once the bundle is on disk (a crash before: the next bundle
        # carries these check-ins again, which HQ takes once)
        record_export(store, seq, {**summary.__dict__, "marks": new_marks})
    return summary


def station_key_for(store: Store, trust: str | None) -> KeyFor:
    """The check ``read_bundle`` makes before verifying a check-in bundle at HQ."""

    def key_for(manifest: dict[str, Any]) -> signing.PublicKey:
        station = manifest["station"]["name"]
        if manifest["station"]["id"] == server_id(store):
            raise BundleRefused("This check-in bundle was exported from this very file.")
        if manifest["project"]["id"] != server_id(store):
            if store.db.execute("SELECT 1 FROM bundle_source").fetchone() \
                    or not store.has_project():
                raise BundleRefused("This is a check-in bundle: import it at HQ, in the "
                                    "project that sent this station its releases.")
            raise BundleRefused(
                f"These check-ins are for another project file ({manifest['project']['slug']!r}"
                f", id {manifest['project']['id'][:8]}…); this file only takes check-ins from "
                "stations it sent release bundles to.")
        pem = manifest["signer"]["public_pem"]
        print_ = fingerprint(pem)
        known = store.db.execute("SELECT 1 FROM bundle_stations WHERE fingerprint = ?",
                                 [print_]).fetchone()
        if known is None and trust is None:
            raise NeedsTrust(
                f"Station {station!r} is not trusted yet: confirm its key by its fingerprint "
                f"({print_}; 'ota-desktop bundle keys' on the station shows it) and import "
                "again trusting it.", f"station {station}", print_)
        if trust is not None and not same_fingerprint(trust, print_):
            raise BundleRefused(f"Station {station!r} signs with another key than the one "
                                "you trusted; compare the fingerprint on the station again.")
        return signing.load_public(pem)

    return key_for


def import_checkins(store: Store, bundle: VerifiedBundle) -> CheckinBundleSummary:
    """Take a verified check-in bundle at HQ, in one transaction."""
    manifest = bundle.manifest
    pem = manifest["signer"]["public_pem"]
    print_ = fingerprint(pem)
    name = str(manifest.get("station", {}).get("name", "station"))
    seq = manifest["seq"]
    db = store.db
    service = ProjectService(store, actor=f"station {name}")
    counts = {"devices": 0, "versions": 0, "feedback": 0, "actions": 0}
    try:
        with store.writing():  # checked under the write lock: imports run one at a time
            if db.execute("SELECT 1 FROM bundle_imports WHERE kind = 'checkins' AND "
                          "source = ? AND seq = ?", [print_, seq]).fetchone():
                raise BundleRefused(f"Check-ins {seq} from {name!r} were already taken "
                                    "(a replayed bundle); nothing changed.")
            db.execute(
                "INSERT INTO bundle_stations (fingerprint, name, algorithm, public_pem, "
                "last_seq, trusted_at, last_import_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (fingerprint) DO UPDATE SET "
                "last_seq = max(last_seq, excluded.last_seq), name = excluded.name, "
                "last_import_at = excluded.last_import_at",
                [print_, name, signing.algorithm_of(signing.load_public(pem)), pem, seq,
                 utc_now(), utc_now()])
            results: list[Result] = []  # final results, for the rollout guards
            for part, write in (("devices", _devices), ("versions", _versions),
                                ("actions", _actions),
                                ("feedback", lambda st, rows: _feedback(st, rows, results))):
                page: list[list[Any]] = []
                for value in bundle.lines(f"checkins/{part}.jsonl"):
                    page.append(_row(value, part))
                    if len(page) == PAGE:
                        counts[part] += write(store, page)
                        page = []
                counts[part] += write(store, page)
            paused = record_results(store, results)  # HQ's guards see the station's failures
            summary = CheckinBundleSummary(seq, name, **counts, paused=tuple(paused))
            db.execute("INSERT INTO bundle_imports (kind, source, seq, at, summary) VALUES "
                       "('checkins', ?, ?, ?, ?)", [print_, seq, utc_now(),
                                                    json.dumps(summary.__dict__)])
            with service.operation("bundle.checkins", f"station:{name}") as op:
                op.after = summary.__dict__
    except CONTENT_ERRORS as exc:
        raise BundleRefused(f"The check-ins do not fit this project ({exc}); nothing was "
                            "imported.") from exc
    return summary


_WIDTH = {"devices": 6, "versions": 3, "feedback": 8, "actions": 8}


#: which columns of each part are texts a station reports (serials, versions, times, …)
_TEXT = {"devices": (0, 1, 2, 3, 4, 5), "versions": (0, 1, 2), "feedback": (0, 1, 2, 3, 4, 7),
         "actions": (0, 1, 2, 3, 5, 6, 7)}
_TIMES = {"devices": (5,), "versions": (2,), "feedback": (7,), "actions": (6, 7)}


def _row(value: Any, part: str) -> list[Any]:
    """A station's row, held to what a device server there could have written: plain text
    without control characters, real times no later than tomorrow."""
    if not isinstance(value, list) or len(value) != _WIDTH[part] or not all(
            v is None or (isinstance(v, (str, int)) and not isinstance(v, bool))
            for v in value):
        raise BundleRefused(f"The bundle's {part} rows do not fit this version of OTA Desktop.")
    for i in _TEXT[part]:
        text = value[i]
        if not isinstance(text, str) or (i == 0 and not text.strip()) or len(text) > 4096:
            raise BundleRefused(f"The bundle's {part} rows hold a value that is not a station's "
                                "report.")
        try:
            check_text(text, f"A value in the bundle's {part}")
        except BadInput as exc:
            raise BundleRefused(str(exc)) from exc
    for i in _TIMES[part]:
        if not _plausible_time(value[i]):
            raise BundleRefused(f"The bundle's {part} rows hold a time that is not one "
                                f"({value[i]!r}).")
    return value


def _plausible_time(text: str) -> bool:
    try:
        at = dt.datetime.fromisoformat(text)
    except ValueError:
        return False
    if at.tzinfo is None:
        return False
    return at <= dt.datetime.now(dt.UTC) + dt.timedelta(days=1)


def _devices(store: Store, rows: list[list[Any]]) -> int:
    """Upsert what the station saw: a known device keeps its cohort here (HQ decides
    cohorts) and takes the station's report if it is newer than what HQ has; a new device
    joins the station's cohort if HQ has it, else the default cohort."""
    if not rows:
        return 0
    db = store.db
    cohorts = dict(db.execute("SELECT slug, id FROM cohorts").fetchall())
    default = store.default_cohort_id()
    known = set(store.software_types())
    for row in rows:
        if row[2] not in known:
            raise BundleRefused(f"The station reports device {row[0]} with a software type "
                                f"this project does not have ({row[2]!r}).")
    now = utc_now()
    db.conn.executemany(
        "INSERT INTO devices (serial, cohort_id, software_type, current_version, attributes, "
        "staged, created_at, last_seen) VALUES (?, ?, ?, ?, ?, 0, ?, ?) "
        "ON CONFLICT (serial) DO UPDATE SET software_type = excluded.software_type, "
        "current_version = excluded.current_version, attributes = excluded.attributes, "
        "last_seen = excluded.last_seen "
        "WHERE devices.last_seen IS NULL OR devices.last_seen < excluded.last_seen",
        [(serial, cohorts.get(cohort, default), software_type, version,
          attributes_key(_attributes(attributes)), now, last_seen)
         for serial, cohort, software_type, version, attributes, last_seen in rows])
    return len(rows)


def _attributes(text: Any) -> dict[str, str]:
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        value = None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise BundleRefused("A device's attributes in the bundle are not an object of strings.")
    return value


def _versions(store: Store, rows: list[list[Any]]) -> int:
    added = 0
    for serial, version, reported_at in rows:
        cursor = store.db.execute(
            "INSERT INTO device_versions (device_id, version, reported_at) "
            "SELECT id, ?, ? FROM devices d WHERE serial = ? AND NOT EXISTS (SELECT 1 FROM "
            "device_versions v WHERE v.device_id = d.id AND v.reported_at = ? "
            "AND v.version = ?)", [version, reported_at, serial, reported_at, version])
        added += cursor.rowcount
    return added


def _feedback(store: Store, rows: list[list[Any]], results: list[Result]) -> int:
    added = 0
    for serial, action_id, kind, execution, finished, progress, details, at in rows:
        cursor = store.db.execute(
            "INSERT INTO ddi_feedback (serial, action_id, kind, execution, finished, progress, "
            "details, at) SELECT ?, ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM "
            "ddi_feedback WHERE serial = ? AND at = ? AND action_id = ? AND execution = ? "
            "AND finished = ?)",
            [serial, action_id, kind, execution, finished, progress, details, at,
             serial, at, action_id, execution, finished])
        added += cursor.rowcount
        if cursor.rowcount and kind == "deployment" and execution == "closed" \
                and finished in ("success", "failure"):
            results.append(Result(serial, action_id, finished == "failure", at))
    return added


def _actions(store: Store, rows: list[list[Any]]) -> int:
    store.db.conn.executemany(
        "INSERT INTO ddi_actions (serial, action_id, release_label, target_version, "
        "payload_id, status, created_at, updated_at) VALUES (?, ?, ?, ?, "
        "(SELECT id FROM payloads WHERE id = ?), ?, ?, ?) "
        "ON CONFLICT (serial, action_id) DO UPDATE SET status = excluded.status, "
        "updated_at = excluded.updated_at WHERE ddi_actions.updated_at < excluded.updated_at",
        rows)
    return len(rows)
