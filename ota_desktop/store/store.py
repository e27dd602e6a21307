"""Reads from the local mirror. All writes go through :mod:`ota_desktop.service`.

A ``Store`` wraps one ``sqlite_utils.Database``; a SQLite connection belongs to one thread,
so each thread that reads opens its own ``Store`` on the same file (WAL keeps readers and the
writer out of each other's way).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from ota_desktop.errors import NotAProjectFile, NotFound, StoreError
from ota_desktop.model import (
    Activation,
    Cohort,
    Configuration,
    DeltaRelease,
    DeviceGroup,
    DeviceState,
    Payload,
    Project,
    ProjectKey,
    Release,
    ReleaseRef,
    RolloutGuard,
)
from ota_desktop.store import migrations


def guard_of(failures: int | None, percent: float | None,
             min_reports: int | None) -> RolloutGuard | None:
    """The guard stored in an activation row's three columns (None: no guard)."""
    if failures is None and percent is None:
        return None
    return RolloutGuard(failures, percent, min_reports if min_reports is not None else 20)


@dataclass(frozen=True)
class DeviceRow:
    id: int
    serial: str
    cohort: str
    software_type: str
    current_version: str
    attributes: dict[str, str]
    staged: bool
    last_seen: str | None

    def state(self) -> DeviceState:
        return DeviceState(
            serial=self.serial,
            cohort=self.cohort,
            software_type=self.software_type,
            current_version=self.current_version or None,
            attributes=self.attributes,
            staged=self.staged,
        )


_DEVICE_COLUMNS = (
    "d.id, d.serial, c.slug, d.software_type, d.current_version, d.attributes, d.staged, "
    "d.last_seen"
)


def _device_row(row: Sequence[Any]) -> DeviceRow:
    return DeviceRow(
        id=row[0], serial=row[1], cohort=row[2], software_type=row[3], current_version=row[4],
        attributes=json.loads(row[5]), staged=bool(row[6]), last_seen=row[7],
    )


class Store:
    def __init__(self, db: Database, path: Path | None = None) -> None:
        self.db = db
        self.path = path
        db.execute("PRAGMA foreign_keys = ON")
        migrations.migrate(db)

    @classmethod
    def open(cls, path: str | Path) -> Store:
        path = Path(path)
        if not path.parent.is_dir():
            raise NotAProjectFile(f"The folder {path.parent} does not exist.")
        if path.is_dir():
            raise NotAProjectFile(f"{path} is a folder, not a project file.")
        try:
            db = Database(path)
            migrations.refuse_foreign(db)  # before any pragma writes to someone else's file
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("PRAGMA cache_size = -65536")
        except sqlite3.DatabaseError as exc:
            raise NotAProjectFile(f"{path} is not an OTA Desktop project file ({exc}).") from exc
        except NotAProjectFile:
            db.close()
            raise
        try:
            return cls(db, path)
        except sqlite3.DatabaseError as exc:
            db.close()
            raise NotAProjectFile(f"{path} is not an OTA Desktop project file ({exc}).") from exc
        except NotAProjectFile:
            db.close()
            raise

    @classmethod
    def memory(cls) -> Store:
        return cls(Database(memory=True))

    def reopen(self) -> Store:
        """A new Store on the same file, for use in another thread."""
        if self.path is None:
            raise StoreError("an in-memory project cannot be opened from another thread")
        return Store.open(self.path)

    def close(self) -> None:
        self.db.close()

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """A write transaction that takes the write lock first (BEGIN IMMEDIATE), so two
        connections writing at once (the window and a sync) wait for each other instead of
        one failing with "database is locked"; nested, it is a savepoint."""
        conn = self.db.conn
        if conn.in_transaction:
            with self.db.atomic():
                yield
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if conn.in_transaction:
                conn.rollback()
            raise
        conn.commit()

    # --- configuration -------------------------------------------------------------------

    def has_project(self) -> bool:
        return bool(self.db.execute("SELECT count(*) FROM project").fetchone()[0] == 1)

    def project(self) -> Project:
        row = self.db.execute(
            "SELECT slug, name, version_scheme, allow_build_metadata FROM project"
        ).fetchone()
        if row is None:
            raise NotAProjectFile("This project file holds no project yet; write one with "
                                  "'ota-desktop demo' or 'ota-desktop import'.")
        return Project(slug=row[0], name=row[1], version_scheme=row[2],
                       allow_build_metadata=bool(row[3]))

    def software_types(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT name FROM software_types ORDER BY name")]

    def cohorts(self) -> list[Cohort]:
        return [
            Cohort(slug=r[0], name=r[1], is_default=bool(r[2]),
                   disable_version_checking=bool(r[3]), protected=bool(r[4]),
                   polling_interval_s=r[5])
            for r in self.db.execute(
                "SELECT slug, name, is_default, disable_version_checking, protected, "
                "polling_interval_s FROM cohorts ORDER BY is_default DESC, slug"
            )
        ]

    def cohort_id(self, slug: str) -> int:
        row = self.db.execute("SELECT id FROM cohorts WHERE slug = ?", [slug]).fetchone()
        if row is None:
            raise NotFound(f"There is no cohort {slug!r} in this project.")
        return int(row[0])

    def default_cohort_id(self) -> int:
        row = self.db.execute("SELECT id FROM cohorts WHERE is_default = 1").fetchone()
        if row is None:
            raise StoreError("The project has no default cohort.")
        return int(row[0])

    def _payloads(self) -> tuple[dict[int, list[Payload]], dict[int, list[Payload]]]:
        full: dict[int, list[Payload]] = {}
        delta: dict[int, list[Payload]] = {}
        for r in self.db.execute(
            "SELECT id, release_id, delta_release_id, filename, size, sha256, sha1, md5, "
            "signature, attributes, extra FROM payloads ORDER BY id"
        ):
            payload = Payload(filename=r[3], size=r[4], sha256=r[5], sha1=r[6], md5=r[7],
                              signature=r[8], attributes=json.loads(r[9]), id=r[0],
                              extra=json.loads(r[10]))
            target = full.setdefault(r[1], []) if r[1] is not None else delta.setdefault(r[2], [])
            target.append(payload)
        return full, delta

    def configuration(self) -> Configuration:
        full_payloads, delta_payloads = self._payloads()
        releases = tuple(
            Release(software_type=r[1], version=r[2], must_pass_through=bool(r[3]),
                    revision=r[4], notes=r[5], payloads=tuple(full_payloads.get(r[0], ())),
                    id=r[0])
            for r in self.db.execute(
                "SELECT id, software_type, version, must_pass_through, revision, notes "
                "FROM releases ORDER BY id"
            )
        )
        deltas = tuple(
            DeltaRelease(software_type=r[1], from_version=r[2], to_version=r[3], revision=r[4],
                         notes=r[5], payloads=tuple(delta_payloads.get(r[0], ())), id=r[0])
            for r in self.db.execute(
                "SELECT id, software_type, from_version, to_version, revision, notes "
                "FROM delta_releases ORDER BY id"
            )
        )
        activations = tuple(
            Activation(
                release=ReleaseRef(r[0], version=r[1]) if r[1] is not None
                else ReleaseRef(r[2], from_version=r[3], to_version=r[4]),
                cohort=r[5], kind=r[6], rollout_percent=r[7], status=r[8], activated_by=r[9],
                id=r[10], guard=guard_of(r[11], r[12], r[13]), paused=r[14],
            )
            for r in self.db.execute(
                "SELECT coalesce(r.software_type, d.software_type), r.version, d.software_type, "
                "d.from_version, d.to_version, c.slug, a.kind, a.rollout_percent, a.status, "
                "a.activated_by, a.id, a.guard_failures, a.guard_percent, a.guard_min_reports, "
                "a.paused_reason FROM activations a "
                "JOIN cohorts c ON c.id = a.cohort_id "
                "LEFT JOIN releases r ON r.id = a.release_id "
                "LEFT JOIN delta_releases d ON d.id = a.delta_release_id ORDER BY a.id"
            )
        )
        keys = tuple(
            ProjectKey(key=r[0], cohort_override=r[1])
            for r in self.db.execute(
                "SELECT k.key, c.slug FROM project_keys k "
                "LEFT JOIN cohorts c ON c.id = k.cohort_override_id ORDER BY k.id"
            )
        )
        return Configuration(
            project=self.project(), software_types=tuple(self.software_types()),
            cohorts=tuple(self.cohorts()), releases=releases, delta_releases=deltas,
            activations=activations, project_keys=keys,
        )

    # --- devices -------------------------------------------------------------------------

    def groups(self, cohort: str, software_type: str) -> list[DeviceGroup]:
        """The maintained per-group counts (kept exact by triggers on every device write)."""
        return [
            DeviceGroup(r[0], r[1], bool(r[2]), r[3])
            for r in self.db.execute(
                "SELECT version, attributes, staged, count FROM device_groups "
                "WHERE cohort_id = ? AND software_type = ? AND count > 0",
                [self.cohort_id(cohort), software_type],
            )
        ]

    def recount_groups(self, cohort: str, software_type: str) -> list[DeviceGroup]:
        """The same groups counted afresh from the devices table (for checks and repair)."""
        return [
            DeviceGroup(r[0], r[1], bool(r[2]), r[3])
            for r in self.db.execute(
                "SELECT current_version, attributes, staged, count(*) FROM devices "
                "WHERE cohort_id = ? AND software_type = ? "
                "GROUP BY current_version, attributes, staged",
                [self.cohort_id(cohort), software_type],
            )
        ]

    def device_count(self, cohort: str | None = None) -> int:
        if cohort is None:
            return int(self.db.execute("SELECT coalesce(sum(count), 0) FROM device_groups")
                       .fetchone()[0])
        return int(self.db.execute(
            "SELECT coalesce(sum(count), 0) FROM device_groups WHERE cohort_id = ?",
            [self.cohort_id(cohort)],
        ).fetchone()[0])

    def device(self, serial: str) -> DeviceRow | None:
        # the raw connection: this lookup is on the device-poll hot path
        row = self.db.conn.execute(
            f"SELECT {_DEVICE_COLUMNS} FROM devices d JOIN cohorts c ON c.id = d.cohort_id "
            "WHERE d.serial = ?",
            [serial],
        ).fetchone()
        return _device_row(row) if row else None

    def devices_in_groups(
        self, cohort: str, software_type: str, groups: Iterable[DeviceGroup],
        offset: int = 0, limit: int = 200,
    ) -> list[DeviceRow]:
        """One page of the devices belonging to ``groups`` (a matrix cell), in serial order
        within each group, groups in the order given."""
        rows: list[DeviceRow] = []
        cohort_id = self.cohort_id(cohort)
        for group in groups:
            if limit <= 0:
                break
            if offset >= group.count:
                offset -= group.count
                continue
            rows.extend(
                _device_row(r)
                for r in self.db.execute(
                    f"SELECT {_DEVICE_COLUMNS} FROM devices d "
                    "JOIN cohorts c ON c.id = d.cohort_id "
                    "WHERE d.cohort_id = ? AND d.software_type = ? AND d.current_version = ? "
                    "AND d.attributes = ? AND d.staged = ? ORDER BY d.id LIMIT ? OFFSET ?",
                    [cohort_id, software_type, group.version, group.attributes_key,
                     int(group.staged), limit, offset],
                )
            )
            limit -= group.count - offset
            offset = 0
        return rows

    def device_history(self, serial: str) -> list[tuple[str, str]]:
        """(reported_at, version) pairs, oldest first."""
        return [
            (r[0], r[1])
            for r in self.db.execute(
                "SELECT v.reported_at, v.version FROM device_versions v "
                "JOIN devices d ON d.id = v.device_id WHERE d.serial = ? "
                "ORDER BY v.reported_at, v.rowid",
                [serial],
            )
        ]

    def operations(self, limit: int = 100) -> list[dict[str, Any]]:
        return [
            {"id": r[0], "at": r[1], "actor": r[2], "kind": r[3], "entity": r[4],
             "before": json.loads(r[5]) if r[5] else None,
             "after": json.loads(r[6]) if r[6] else None}
            for r in self.db.execute(
                "SELECT id, at, actor, kind, entity, before, after FROM operations "
                "ORDER BY id DESC LIMIT ?", [limit],
            )
        ]

    def activation_history(self) -> list[dict[str, Any]]:
        """Every activation, oldest first: release, cohort, kind, %, status, who, when, its
        rollout guard and, when paused, why (with the results counted since it last started)."""
        rows = []
        for r in self.db.execute(
                "SELECT a.id, r.software_type, d.software_type, r.version, d.from_version, "
                "d.to_version, c.slug, a.kind, a.rollout_percent, a.status, a.activated_by, "
                "a.created_at, a.updated_at, a.guard_failures, a.guard_percent, "
                "a.guard_min_reports, a.paused_at, a.paused_reason, "
                "coalesce(a.guard_since, a.created_at) FROM activations a "
                "JOIN cohorts c ON c.id = a.cohort_id "
                "LEFT JOIN releases r ON r.id = a.release_id "
                "LEFT JOIN delta_releases d ON d.id = a.delta_release_id "
                "ORDER BY a.created_at, a.id"):
            guard = guard_of(r[13], r[14], r[15])
            failures, reports = self.guard_tally(r[0], r[18])
            rows.append({
                "id": r[0], "software_type": r[1] or r[2],
                "release": r[3] if r[3] is not None else f"{r[4]}→{r[5]}",
                "is_delta": r[3] is None, "cohort": r[6], "kind": r[7], "rollout_percent": r[8],
                "status": r[9], "activated_by": r[10], "created_at": r[11], "updated_at": r[12],
                "guard": None if guard is None else {"failures": guard.failures,
                                                     "percent": guard.percent,
                                                     "min_reports": guard.min_reports},
                "paused": r[17] is not None, "paused_at": r[16], "paused_reason": r[17],
                "results_since": r[18], "failures": failures, "reports": reports})
        return rows

    def guard_tally(self, activation_id: int, since: str) -> tuple[int, int]:
        """(devices that failed, devices that reported a result) for an activation since
        ``since`` (its start or last resume); one indexed range of ``guard_reports``."""
        row = self.db.execute(
            "SELECT coalesce(sum(failed_at >= ?1), 0), coalesce(sum(reported_at >= ?1), 0) "
            "FROM guard_reports WHERE activation_id = ?2", [since, activation_id]).fetchone()
        return int(row[0]), int(row[1])

    def distribution(self) -> dict[str, list[tuple[str, int]]]:
        """Per cohort: (software type/version label, devices), most devices first."""
        out: dict[str, list[tuple[str, int]]] = {c.slug: [] for c in self.cohorts()}
        for slug, software_type, version, count in self.db.execute(
            "SELECT c.slug, g.software_type, g.version, sum(g.count) FROM device_groups g "
            "JOIN cohorts c ON c.id = g.cohort_id GROUP BY c.slug, g.software_type, g.version "
            "ORDER BY sum(g.count) DESC"
        ):
            out[slug].append((version if software_type == "main" else
                              f"{software_type} {version}", int(count)))
        return out

    def devices_by_serial(self, serials: Sequence[str]) -> dict[str, DeviceRow]:
        """The known devices among ``serials`` (looked up in batches)."""
        found: dict[str, DeviceRow] = {}
        for start in range(0, len(serials), 500):
            part = list(serials[start:start + 500])
            for r in self.db.execute(
                f"SELECT {_DEVICE_COLUMNS} FROM devices d JOIN cohorts c ON c.id = d.cohort_id "
                f"WHERE d.serial IN ({', '.join('?' * len(part))})", part):
                row = _device_row(r)
                found[row.serial] = row
        return found

    def device_feedback(self, serial: str) -> list[dict[str, Any]]:
        """hawkBit feedback from a device, oldest first, with the release each action was."""
        return [
            {"at": r[0], "action_id": r[1], "kind": r[2], "execution": r[3], "finished": r[4],
             "progress": json.loads(r[5]) if r[5] else None, "details": json.loads(r[6]),
             "release": r[7] or ""}
            for r in self.db.execute(
                "SELECT f.at, f.action_id, f.kind, f.execution, f.finished, f.progress, "
                "f.details, a.release_label FROM ddi_feedback f "
                "LEFT JOIN ddi_actions a ON a.action_id = f.action_id AND a.serial = f.serial "
                "WHERE f.serial = ? ORDER BY f.at, f.id", [serial])
        ]
