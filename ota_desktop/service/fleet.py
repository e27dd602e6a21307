"""The project itself, software types, cohorts, project keys and devices."""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ota_desktop.auth import may_change_activations
from ota_desktop.errors import BadInput, Forbidden, NotFound, RuleViolation
from ota_desktop.model import attributes_key
from ota_desktop.service.base import ServiceBase
from ota_desktop.versions import SCHEME_NAMES


@dataclass(frozen=True)
class NewDevice:
    serial: str
    current_version: str
    cohort: str | None = None  # None: the default cohort
    software_type: str = "main"
    attributes: Mapping[str, str] = field(default_factory=dict)
    staged: bool = False


@dataclass(frozen=True)
class MoveResult:
    moved: int
    already: int  # already in the target cohort
    unknown: tuple[str, ...]


class FleetEdits(ServiceBase):
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
        check_slug(slug)
        if name is not None:
            check_text(name, "A cohort's name")
        check_polling_interval(polling_interval_s)
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

    def create_project_key(self, key: str | None = None,
                           cohort_override: str | None = None) -> str:
        """Add a project key (a new random one unless given); returns it."""
        key = key if key is not None else secrets.token_hex(16)
        if not key.strip():
            raise BadInput("A project key cannot be empty.")
        check_text(key, "A project key")
        if len(key) > 256 or " " in key:
            raise BadInput("A project key is at most 256 characters, without spaces.")
        override_id = self.store.cohort_id(cohort_override) if cohort_override else None
        if self.db.execute("SELECT 1 FROM project_keys WHERE key = ?", [key]).fetchone():
            raise RuleViolation("That project key already exists.")
        with self.operation("project_key.create", f"project_key:{key[:6]}…") as op:
            self.db.execute("INSERT INTO project_keys (key, cohort_override_id) VALUES (?, ?)",
                            [key, override_id])
            op.after = {"key": key, "cohort_override": cohort_override}
        return key

    def create_target_token(self, serial: str, token: str | None = None) -> str:
        """A hawkBit TargetToken for one device (a new random one unless given)."""
        token = token or secrets.token_hex(16)
        if self.store.device(serial) is None:
            raise NotFound(f"There is no device {serial!r}.")
        with self.operation("target_token.set", f"device:{serial}") as op:
            self.db.execute("INSERT INTO target_tokens (serial, token) VALUES (?, ?) "
                            "ON CONFLICT (serial) DO UPDATE SET token = excluded.token",
                            [serial, token])
            op.after = {"serial": serial}
        return token

    def set_key_override(self, key: str, cohort_override: str | None) -> None:
        row = self.db.execute(
            "SELECT c.slug FROM project_keys k LEFT JOIN cohorts c ON c.id = k.cohort_override_id "
            "WHERE k.key = ?", [key]).fetchone()
        if row is None:
            raise NotFound("That project key does not exist.")
        override_id = self.store.cohort_id(cohort_override) if cohort_override else None
        with self.operation("project_key.update", f"project_key:{key[:6]}…",
                            before={"key": key, "cohort_override": row[0]}) as op:
            self.db.execute("UPDATE project_keys SET cohort_override_id = ? WHERE key = ?",
                            [override_id, key])
            op.after = {"key": key, "cohort_override": cohort_override}

    def update_cohort(self, slug: str, *, name: str | None = None,
                      disable_version_checking: bool | None = None,
                      protected: bool | None = None,
                      polling_interval_s: int | None = None) -> None:
        cohort_id = self.store.cohort_id(slug)
        if name is not None:
            if not name.strip():
                raise BadInput("A cohort's name cannot be empty.")
            check_text(name, "A cohort's name")
        if polling_interval_s is not None:
            check_polling_interval(polling_interval_s)
        changes = {k: v for k, v in {
            "name": name, "disable_version_checking": disable_version_checking,
            "protected": protected, "polling_interval_s": polling_interval_s}.items()
            if v is not None}
        if not changes:
            return
        row = self.db.execute(f"SELECT {', '.join(changes)} FROM cohorts WHERE id = ?",
                              [cohort_id]).fetchone()
        before = {k: (bool(v) if isinstance(changes[k], bool) else v)
                  for k, v in zip(changes, row, strict=True)}
        changes = {k: v for k, v in changes.items() if before[k] != v}
        before = {k: before[k] for k in changes}
        if "protected" in changes and not may_change_activations(self.principal, True):
            # unprotecting a cohort would open its activations: the same rule guards both
            raise Forbidden(f"{'This token' if self.principal.is_token else self.principal.name}"
                            f" may not change whether cohort {slug} is protected: only "
                            "managers (and tokens permitted in protected cohorts) can.")
        if not changes:
            return  # nothing differs: record nothing
        with self.operation("cohort.update", f"cohort:{slug}", before={"slug": slug, **before}) as op:
            self.db.execute(
                f"UPDATE cohorts SET {', '.join(f'{k} = ?' for k in changes)} WHERE id = ?",
                [*(int(v) if isinstance(v, bool) else v for v in changes.values()), cohort_id])
            op.after = {"slug": slug, **changes}

    def plan_move(self, serials: Iterable[str], cohort: str) -> MoveResult:
        """What moving ``serials`` to ``cohort`` would do (changes nothing)."""
        return self._movers(serials, cohort)[0]

    def _movers(self, serials: Iterable[str], cohort: str) -> tuple[MoveResult, list[Any]]:
        self.store.cohort_id(cohort)
        wanted = list(dict.fromkeys(s.strip() for s in serials if s.strip()))
        found = self.store.devices_by_serial(wanted)
        unknown = [s for s in wanted if s not in found]
        movers = [d for d in found.values() if d.cohort != cohort]
        return MoveResult(moved=len(movers), already=len(found) - len(movers),
                          unknown=tuple(unknown)), movers

    def move_devices(self, serials: Iterable[str], cohort: str) -> MoveResult:
        """Move devices to ``cohort``. Their staged mark belonged to the old cohort, so it is
        cleared. Unknown serials are counted and named, never silently skipped."""
        cohort_id = self.store.cohort_id(cohort)
        result, movers = self._movers(serials, cohort)
        if not movers:
            return result
        before = [{"serial": d.serial, "cohort": d.cohort, "staged": d.staged} for d in movers]
        with self.operation("devices.move", f"cohort:{cohort}", before=before) as op:
            self.db.conn.executemany("UPDATE devices SET cohort_id = ?, staged = 0 WHERE id = ?",
                                     [(cohort_id, d.id) for d in movers])
            op.after = {"cohort": cohort, "serials": [d.serial for d in movers]}
        return result

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
                # revisions for the sync feed, handed out a chunk at a time (the per-row
                # trigger only runs for rows inserted without one)
                rev = int(conn.execute("UPDATE fleet_clock SET rev = rev + ? RETURNING rev",
                                       [len(rows)]).fetchone()[0]) - len(rows)
                try:
                    conn.executemany(
                        "INSERT INTO devices (serial, cohort_id, software_type, current_version, "
                        "attributes, staged, created_at, rev) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        [(*row, rev + i + 1) for i, row in enumerate(rows)])
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


MAX_SLUG = 64


def check_slug(slug: str) -> None:
    """A cohort slug: 1–64 printable characters, no spaces or slashes (it appears in URLs,
    entity names and snapshot files)."""
    if not isinstance(slug, str) or not slug.strip():
        raise BadInput("A cohort needs a slug.")
    if len(slug) > MAX_SLUG or not slug.isprintable() or any(c in slug for c in " /\\"):
        raise BadInput(f"A cohort slug is 1–{MAX_SLUG} printable characters without spaces or "
                       "slashes.")
    check_text(slug, "A cohort slug")


def check_text(text: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadInput(f"{what} is not valid Unicode text.") from exc
    if any(not c.isprintable() and c != " " for c in text):
        raise BadInput(f"{what} contains control characters.")


def check_polling_interval(seconds: int) -> None:
    if isinstance(seconds, bool) or not isinstance(seconds, int) \
            or not 1 <= seconds <= 7 * 86400:
        raise BadInput("The polling interval is between 1 second and 7 days.")
