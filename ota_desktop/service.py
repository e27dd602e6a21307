"""The one way to change a project: every mutation validates, writes in one transaction and
records an operation (who, when, what, before, after). The GUI, the CLI and the server all
call these functions; none of them writes SQL of its own.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ota_desktop.errors import BadInput, NotFound, RuleViolation
from ota_desktop.model import ActivationKind, ActivationStatus, ReleaseRef, attributes_key
from ota_desktop.staging import StagingChange, plan_staging
from ota_desktop.store.store import Store
from ota_desktop.versions import SCHEME_NAMES

Clock = Callable[[], str]


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


@dataclass
class _Operation:
    kind: str
    entity: str
    before: Any = None
    after: Any = None


@dataclass(frozen=True)
class NewDevice:
    serial: str
    current_version: str
    cohort: str | None = None  # None: the default cohort
    software_type: str = "main"
    attributes: Mapping[str, str] = field(default_factory=dict)
    staged: bool = False


class ProjectService:
    def __init__(self, store: Store, actor: str = "local", clock: Clock = utc_now) -> None:
        self.store = store
        self.db = store.db
        self.actor = actor
        self.clock = clock

    @contextmanager
    def operation(self, kind: str, entity: str, before: Any = None) -> Iterator[_Operation]:
        """One transaction that ends by recording the operation; nested calls nest as
        savepoints, so a composite change (an import) is still all-or-nothing."""
        op = _Operation(kind, entity, before)
        with self.db.atomic():
            yield op
            self.db.execute(
                "INSERT INTO operations (at, actor, kind, entity, before, after) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [self.clock(), self.actor, op.kind, op.entity,
                 None if op.before is None else json.dumps(op.before),
                 None if op.after is None else json.dumps(op.after)],
            )

    def _check_version(self, version: str) -> None:
        self.store.project().scheme.precedence(version)

    # --- project, software types, cohorts, keys -------------------------------------------

    def create_project(self, slug: str, name: str, version_scheme: str = "natural",
                       allow_build_metadata: bool = False) -> None:
        if version_scheme not in SCHEME_NAMES:
            raise BadInput(f"Unknown version scheme {version_scheme!r}; choose one of "
                           f"{', '.join(SCHEME_NAMES)}.")
        if self.store.has_project():
            raise RuleViolation("This project file already holds a project.")
        after = {"slug": slug, "name": name, "version_scheme": version_scheme,
                 "allow_build_metadata": allow_build_metadata}
        with self.operation("project.create", f"project:{slug}") as op:
            self.db.execute(
                "INSERT INTO project (id, slug, name, version_scheme, allow_build_metadata) "
                "VALUES (1, ?, ?, ?, ?)", [slug, name, version_scheme, int(allow_build_metadata)],
            )
            op.after = after

    def add_software_type(self, name: str) -> None:
        if not name.strip():
            raise BadInput("A software type needs a name.")
        with self.operation("software_type.create", f"software_type:{name}") as op:
            self.db.execute("INSERT OR IGNORE INTO software_types (name) VALUES (?)", [name])
            op.after = {"name": name}

    def create_cohort(self, slug: str, name: str | None = None, *, is_default: bool = False,
                      disable_version_checking: bool = False, protected: bool = True,
                      polling_interval_s: int = 3600) -> None:
        if not slug.strip():
            raise BadInput("A cohort needs a slug.")
        if self.db.execute("SELECT 1 FROM cohorts WHERE slug = ?", [slug]).fetchone():
            raise RuleViolation(f"A cohort {slug!r} already exists.")
        after = {"slug": slug, "name": name or slug, "is_default": is_default,
                 "disable_version_checking": disable_version_checking, "protected": protected,
                 "polling_interval_s": polling_interval_s}
        with self.operation("cohort.create", f"cohort:{slug}") as op:
            if is_default:
                self.db.execute("UPDATE cohorts SET is_default = 0")
            self.db.execute(
                "INSERT INTO cohorts (slug, name, is_default, disable_version_checking, "
                "protected, polling_interval_s) VALUES (?, ?, ?, ?, ?, ?)",
                [slug, name or slug, int(is_default), int(disable_version_checking),
                 int(protected), polling_interval_s],
            )
            op.after = after

    def create_project_key(self, key: str, cohort_override: str | None = None) -> None:
        override_id = self.store.cohort_id(cohort_override) if cohort_override else None
        if self.db.execute("SELECT 1 FROM project_keys WHERE key = ?", [key]).fetchone():
            raise RuleViolation("That project key already exists.")
        with self.operation("project_key.create", f"project_key:{key[:6]}…") as op:
            self.db.execute("INSERT INTO project_keys (key, cohort_override_id) VALUES (?, ?)",
                            [key, override_id])
            op.after = {"cohort_override": cohort_override}

    # --- releases --------------------------------------------------------------------------

    def create_release(self, software_type: str, version: str, *, must_pass_through: bool = False,
                       revision: str = "", notes: str = "") -> int:
        self._check_version(version)
        self._require_software_type(software_type)
        if self.db.execute("SELECT 1 FROM releases WHERE software_type = ? AND version = ?",
                           [software_type, version]).fetchone():
            raise RuleViolation(f"A Full release {version} of {software_type} already exists.")
        after = {"software_type": software_type, "version": version,
                 "must_pass_through": must_pass_through, "revision": revision, "notes": notes}
        with self.operation("release.create", f"release:{software_type}/{version}") as op:
            cursor = self.db.execute(
                "INSERT INTO releases (software_type, version, must_pass_through, revision, "
                "notes, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                [software_type, version, int(must_pass_through), revision, notes, self.clock()],
            )
            op.after = after
        return int(cursor.lastrowid or 0)

    def create_delta(self, software_type: str, from_version: str, to_version: str, *,
                     revision: str = "", notes: str = "") -> int:
        scheme = self.store.project().scheme
        self._require_software_type(software_type)
        if scheme.precedence(to_version) <= scheme.precedence(from_version):
            raise RuleViolation(f"A Delta release must go up: {to_version} is not newer than "
                                f"{from_version} (delta downgrades are not supported).")
        if self.db.execute(
            "SELECT 1 FROM delta_releases WHERE software_type = ? AND from_version = ? "
            "AND to_version = ?", [software_type, from_version, to_version]
        ).fetchone():
            raise RuleViolation(f"A Delta release {from_version}→{to_version} already exists.")
        entity = f"delta:{software_type}/{from_version}->{to_version}"
        with self.operation("delta.create", entity) as op:
            cursor = self.db.execute(
                "INSERT INTO delta_releases (software_type, from_version, to_version, revision, "
                "notes, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                [software_type, from_version, to_version, revision, notes, self.clock()],
            )
            op.after = {"software_type": software_type, "from_version": from_version,
                        "to_version": to_version, "revision": revision, "notes": notes}
        return int(cursor.lastrowid or 0)

    def add_payload(self, ref: ReleaseRef, filename: str, *, size: int = 0, sha256: str = "",
                    sha1: str = "", md5: str = "", attributes: Mapping[str, str] | None = None
                    ) -> int:
        """Record a payload's metadata (the file itself is stored by the artifact store)."""
        column, release_id = self._release_id(ref)
        attrs = dict(attributes or {})
        after = {"filename": filename, "size": size, "sha256": sha256, "attributes": attrs}
        with self.operation("payload.add", f"payload:{filename}") as op:
            cursor = self.db.execute(
                f"INSERT INTO payloads ({column}, filename, size, sha256, sha1, md5, attributes) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [release_id, filename, size, sha256, sha1, md5, attributes_key(attrs)],
            )
            op.after = after
        return int(cursor.lastrowid or 0)

    def _require_software_type(self, name: str) -> None:
        if not self.db.execute("SELECT 1 FROM software_types WHERE name = ?", [name]).fetchone():
            raise NotFound(f"There is no software type {name!r} in this project.")

    def _release_id(self, ref: ReleaseRef) -> tuple[str, int]:
        if ref.is_delta:
            row = self.db.execute(
                "SELECT id FROM delta_releases WHERE software_type = ? AND from_version = ? "
                "AND to_version = ?", [ref.software_type, ref.from_version, ref.to_version],
            ).fetchone()
            if row is None:
                raise NotFound(f"There is no Delta release {ref.from_version}→{ref.to_version} "
                               f"of {ref.software_type}.")
            return "delta_release_id", int(row[0])
        row = self.db.execute("SELECT id FROM releases WHERE software_type = ? AND version = ?",
                              [ref.software_type, ref.version]).fetchone()
        if row is None:
            raise NotFound(f"There is no Full release {ref.version} of {ref.software_type}.")
        return "release_id", int(row[0])

    # --- activations and staging ------------------------------------------------------------

    def activate(self, ref: ReleaseRef, cohort: str, *, kind: ActivationKind = "normal",
                 rollout_percent: float | None = None, seed: int | None = None) -> int:
        column, release_id = self._release_id(ref)
        cohort_id = self.store.cohort_id(cohort)
        if kind == "staged":
            if rollout_percent is None or not 0 < rollout_percent < 100:
                raise BadInput("A staged rollout needs a percentage above 0 and below 100.")
        else:
            rollout_percent = None
        if self.db.execute(
            f"SELECT 1 FROM activations WHERE {column} = ? AND cohort_id = ? "
            "AND status = 'active'", [release_id, cohort_id]
        ).fetchone():
            raise RuleViolation("That release is already active in cohort "
                                f"{cohort!r}; change its rollout or pull it instead.")
        label = ref.version or f"{ref.from_version}->{ref.to_version}"
        with self.operation("activation.create", f"activation:{cohort}/{label}") as op:
            activation_id = self._insert_activation(column, release_id, cohort_id, kind,
                                                    rollout_percent, "active")
            after: dict[str, Any] = {"cohort": cohort, "kind": kind,
                                     "rollout_percent": rollout_percent, "status": "active"}
            if kind == "staged" and rollout_percent is not None:
                after["staging"] = self._stage(cohort_id, activation_id, rollout_percent, seed)
            op.after = after
        return activation_id

    def restore_activation(self, ref: ReleaseRef, cohort: str, *, kind: ActivationKind,
                           rollout_percent: float | None, status: ActivationStatus) -> int:
        """Re-create an activation as it was (snapshot import): staged marks are restored
        with the devices, so none are drawn here."""
        column, release_id = self._release_id(ref)
        cohort_id = self.store.cohort_id(cohort)
        label = ref.version or f"{ref.from_version}->{ref.to_version}"
        with self.operation("activation.restore", f"activation:{cohort}/{label}") as op:
            activation_id = self._insert_activation(column, release_id, cohort_id, kind,
                                                    rollout_percent, status)
            op.after = {"cohort": cohort, "kind": kind, "rollout_percent": rollout_percent,
                        "status": status}
        return activation_id

    def set_rollout_percent(self, ref: ReleaseRef, cohort: str, percent: float,
                            seed: int | None = None) -> dict[str, Any]:
        """Change a staged rollout's percentage. Raising it keeps every device already
        staged and marks more; the draw is recorded with its seed."""
        if not 0 < percent < 100:
            raise BadInput("A staged rollout needs a percentage above 0 and below 100.")
        column, release_id = self._release_id(ref)
        cohort_id = self.store.cohort_id(cohort)
        row = self.db.execute(
            f"SELECT id, rollout_percent FROM activations WHERE {column} = ? AND cohort_id = ? "
            "AND status = 'active' AND kind = 'staged'", [release_id, cohort_id]
        ).fetchone()
        if row is None:
            raise NotFound(f"That release has no active staged rollout in cohort {cohort!r}.")
        label = ref.version or f"{ref.from_version}->{ref.to_version}"
        with self.operation("activation.rollout", f"activation:{cohort}/{label}",
                            before={"rollout_percent": row[1]}) as op:
            self.db.execute("UPDATE activations SET rollout_percent = ?, updated_at = ? "
                            "WHERE id = ?", [percent, self.clock(), row[0]])
            staging = self._stage(cohort_id, row[0], percent, seed)
            op.after = {"rollout_percent": percent, "staging": staging}
        return staging

    def _insert_activation(self, column: str, release_id: int, cohort_id: int,
                           kind: ActivationKind, rollout_percent: float | None,
                           status: ActivationStatus) -> int:
        now = self.clock()
        cursor = self.db.execute(
            f"INSERT INTO activations ({column}, cohort_id, kind, rollout_percent, status, "
            "activated_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [release_id, cohort_id, kind, rollout_percent, status, self.actor, now, now],
        )
        return int(cursor.lastrowid or 0)

    def _stage(self, cohort_id: int, activation_id: int | None, percent: float,
               seed: int | None) -> dict[str, Any]:
        """Mark the cohort's current devices so the staged share equals ``percent``
        (inside the caller's transaction) and record the seed used."""
        if seed is None:
            seed = random.SystemRandom().randrange(2**31)
        ids = [r[0] for r in self.db.execute(
            "SELECT id FROM devices WHERE cohort_id = ? ORDER BY id", [cohort_id])]
        staged = [r[0] for r in self.db.execute(
            "SELECT id FROM devices WHERE cohort_id = ? AND staged = 1", [cohort_id])]
        change: StagingChange = plan_staging(ids, staged, percent, seed)
        for value, chosen in ((1, change.mark), (0, change.unmark)):
            self.db.conn.executemany("UPDATE devices SET staged = ? WHERE id = ?",
                                     [(value, i) for i in chosen])
        self.db.execute(
            "INSERT INTO staging_runs (cohort_id, activation_id, rollout_percent, seed, "
            "cohort_size, marked, unmarked, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [cohort_id, activation_id, percent, seed, len(ids), len(change.mark),
             len(change.unmark), self.clock()],
        )
        return {"seed": seed, "cohort_size": len(ids), "marked": len(change.mark),
                "unmarked": len(change.unmark), "staged": change.target}

    # --- devices -------------------------------------------------------------------------

    def add_devices(self, devices: Iterable[NewDevice], *, batch: int = 50_000,
                    progress: Callable[[int], None] | None = None) -> int:
        """Insert many devices in one transaction, each with its first version report.

        Versions are stored as reported: an unparseable one is flagged in the matrix, not
        refused, because it is what the device says it runs.
        """
        cohort_ids = {c.slug: self.store.cohort_id(c.slug) for c in self.store.cohorts()}
        default_id = self.store.default_cohort_id()
        software_types = set(self.store.software_types())
        now = self.clock()
        conn = self.db.conn
        total = 0
        keys: dict[tuple[tuple[str, str], ...], str] = {}  # fleets share few attribute sets
        with self.operation("devices.add", "devices") as op:
            for chunk in _chunks(devices, batch):
                rows = []
                for device in chunk:
                    cohort_id = (default_id if device.cohort is None
                                 else cohort_ids.get(device.cohort))
                    if cohort_id is None:
                        raise NotFound(f"There is no cohort {device.cohort!r} in this project.")
                    if device.software_type not in software_types:
                        raise NotFound(f"There is no software type {device.software_type!r}.")
                    items = tuple(sorted(device.attributes.items()))
                    key = keys.get(items)
                    if key is None:
                        key = keys[items] = attributes_key(device.attributes)
                    rows.append((device.serial, cohort_id, device.software_type,
                                 device.current_version, key, int(device.staged), now))
                last_id = int(conn.execute("SELECT coalesce(max(id), 0) FROM devices")
                              .fetchone()[0])
                try:
                    conn.executemany(
                        "INSERT INTO devices (serial, cohort_id, software_type, current_version, "
                        "attributes, staged, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
                except sqlite3.IntegrityError as exc:
                    raise RuleViolation(f"A device serial appears twice or already exists "
                                        f"({exc}).") from exc
                conn.execute(
                    "INSERT INTO device_versions (device_id, version, reported_at) "
                    "SELECT id, current_version, created_at FROM devices "
                    "WHERE id > ? AND current_version != ''", [last_id])
                total += len(rows)
                if progress:
                    progress(total)
            op.after = {"count": total}
        return total


def _chunks(items: Iterable[NewDevice], size: int) -> Iterator[list[NewDevice]]:
    chunk: list[NewDevice] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
