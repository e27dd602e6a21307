"""Undo: revert one recorded operation, itself recorded as an operation.

Each reversible kind knows its inverse from the before/after it recorded. Operations are
reverted newest first (the GUI's undo stack guarantees the order), so the state an inverse
expects is the state the operation left.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

from ota_desktop.errors import NotFound, RuleViolation
from ota_desktop.model import ReleaseRef
from ota_desktop.service.base import ServiceBase
from ota_desktop.service.guard import GuardEdits


class UndoEdits(ServiceBase):
    def last_operation_id(self) -> int:
        return int(self.db.execute("SELECT coalesce(max(id), 0) FROM operations").fetchone()[0])

    def revert(self, operation_id: int) -> None:
        row = self.db.execute("SELECT kind, entity, before, after FROM operations WHERE id = ?",
                              [operation_id]).fetchone()
        if row is None:
            raise NotFound(f"There is no operation {operation_id}.")
        kind, entity = row[0], row[1]
        before = json.loads(row[2]) if row[2] else None
        after = json.loads(row[3]) if row[3] else None
        inverse = _INVERSES.get(kind)
        if inverse is None:
            raise RuleViolation(f"A {kind} cannot be undone.")
        self._refuse_if_changed_since(operation_id, kind, entity, after)
        try:
            with self.operation(f"undo.{kind}", entity, before={"operation": operation_id}):
                inverse(self, before, after)
        except sqlite3.IntegrityError as exc:
            raise RuleViolation(f"This {kind} cannot be undone any more: the project has "
                                f"changed since ({exc}).") from exc

    def _refuse_if_changed_since(self, operation_id: int, kind: str, entity: str,
                                 after: Any) -> None:
        """An operation can be undone only while no later, still-standing operation changed
        the same thing (or, for staged draws, the same cohort's staged marks)."""
        mine = _conflict_keys(kind, entity, after is not None and "staging" in after)
        reverted = {int(r[0]) for r in self.db.execute(
            "SELECT json_extract(before, '$.operation') FROM operations "
            "WHERE id > ? AND kind LIKE 'undo.%'", [operation_id]) if r[0] is not None}
        if operation_id in reverted:
            raise RuleViolation(f"That {kind} has already been undone.")
        for later_id, later_kind, later_entity, staged, actor in self.db.execute(
            "SELECT id, kind, entity, instr(coalesce(after, ''), '\"staging\"') > 0, actor "
            "FROM operations WHERE id > ? AND kind NOT LIKE 'undo.%' ORDER BY id",
            [operation_id],
        ):
            if later_id in reverted:
                continue
            if mine & _conflict_keys(later_kind, later_entity, bool(staged)):
                raise RuleViolation(
                    f"It was changed again since ({later_kind.replace('.', ' ')} by "
                    f"{actor or 'a token'}); undo or revert that change first.")

    # --- inverses (run inside the undo's transaction) ----------------------------------

    def _undo_release_create(self, before: Any, after: dict[str, Any]) -> None:
        ref = ReleaseRef(**after["ref"]) if "ref" in after else ReleaseRef(
            after["software_type"], version=after.get("version"),
            from_version=after.get("from_version"), to_version=after.get("to_version"))
        column, release_id = self._release_id(ref)
        cohorts = [r[0] for r in self.db.execute(
            f"SELECT DISTINCT c.slug FROM activations a JOIN cohorts c ON c.id = a.cohort_id "
            f"WHERE a.{column} = ? ORDER BY c.slug", [release_id])]
        if cohorts:
            raise RuleViolation(f"That release has been activated since (in "
                                f"{', '.join(cohorts)}); pull and delete it instead.")
        self.db.execute(f"DELETE FROM payloads WHERE {column} = ?", [release_id])
        table = "delta_releases" if ref.is_delta else "releases"
        self.db.execute(f"DELETE FROM {table} WHERE id = ?", [release_id])

    def _undo_release_update(self, before: dict[str, Any], after: Any) -> None:
        ref = ReleaseRef(**before["ref"])
        _, release_id = self._release_id(ref)
        fields = {k: v for k, v in before.items() if k != "ref"}
        table = "delta_releases" if ref.is_delta else "releases"
        self.db.execute(
            f"UPDATE {table} SET {', '.join(f'{k} = ?' for k in fields)} WHERE id = ?",
            [*(int(v) if isinstance(v, bool) else v for v in fields.values()), release_id])

    def _undo_release_delete(self, before: dict[str, Any], after: Any) -> None:
        ref = ReleaseRef(**before["ref"])
        table, column = (("delta_releases", "delta_release_id") if ref.is_delta
                         else ("releases", "release_id"))
        keys = [k for k in before if k not in ("ref", "payloads", "activations")]
        self.db.execute(f"INSERT INTO {table} ({', '.join(keys)}) VALUES "
                        f"({', '.join('?' * len(keys))})",
                        [int(before[k]) if isinstance(before[k], bool) else before[k]
                         for k in keys])
        for p in before["payloads"]:
            self._insert_payload_row(p)
        for a in before["activations"]:
            self.db.execute(
                f"INSERT INTO activations (id, {column}, cohort_id, kind, rollout_percent, "
                "status, activated_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [a["id"], before["id"], a["cohort_id"], a["kind"], a["rollout_percent"],
                 a["status"], a["activated_by"], a["created_at"], a["updated_at"]])

    def _insert_payload_row(self, p: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT INTO payloads (id, release_id, delta_release_id, filename, size, sha256, "
            "sha1, md5, signature, attributes, extra) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [p["id"], p["release_id"], p["delta_release_id"], p["filename"], p["size"],
             p["sha256"], p["sha1"], p["md5"], p["signature"],
             json.dumps(dict(sorted(p["attributes"].items())), separators=(",", ":")),
             json.dumps(p.get("extra") or {})])

    def _undo_payload_add(self, before: Any, after: dict[str, Any]) -> None:
        self.db.execute("DELETE FROM payloads WHERE id = ?", [after["id"]])

    def _undo_payload_remove(self, before: dict[str, Any], after: Any) -> None:
        self._insert_payload_row(before)

    def _restore_marks(self, staging: dict[str, Any] | None, cohort: str) -> None:
        """Put the staged marks back, for devices still in the cohort they were drawn in."""
        if not staging:
            return
        conn = self.db.conn
        cohort_id = self.store.cohort_id(cohort)
        conn.executemany("UPDATE devices SET staged = 0 WHERE id = ? AND cohort_id = ?",
                         [(i, cohort_id) for i in staging.get("marked_ids", [])])
        conn.executemany("UPDATE devices SET staged = 1 WHERE id = ? AND cohort_id = ?",
                         [(i, cohort_id) for i in staging.get("unmarked_ids", [])])

    def _undo_activation_create(self, before: Any, after: dict[str, Any]) -> None:
        self._restore_marks(after.get("staging"), after["cohort"])
        self.db.execute("DELETE FROM staging_runs WHERE activation_id = ?", [after["id"]])
        self.db.execute("DELETE FROM activations WHERE id = ?", [after["id"]])

    def _undo_activation_rollout(self, before: dict[str, Any], after: dict[str, Any]) -> None:
        cohort = self.db.execute("SELECT c.slug FROM activations a JOIN cohorts c ON "
                                 "c.id = a.cohort_id WHERE a.id = ?", [after["id"]]).fetchone()
        if cohort is None:
            raise RuleViolation("That rollout's activation no longer exists.")
        self._restore_marks(after.get("staging"), cohort[0])
        self.db.execute("UPDATE activations SET rollout_percent = ?, updated_at = ? WHERE id = ?",
                        [before["rollout_percent"], self.clock(), after["id"]])

    def _undo_activation_pull(self, before: dict[str, Any], after: Any) -> None:
        row = self.db.execute(
            "SELECT count(*) FROM activations a JOIN activations b ON b.cohort_id = a.cohort_id "
            "AND coalesce(b.release_id, -1) = coalesce(a.release_id, -1) "
            "AND coalesce(b.delta_release_id, -1) = coalesce(a.delta_release_id, -1) "
            "WHERE a.id = ? AND b.id != a.id AND b.status = 'active'", [before["id"]]).fetchone()
        if row[0]:
            raise RuleViolation("That release has been activated again in the cohort since; "
                                "it is already active.")
        self.db.execute("UPDATE activations SET status = 'active', updated_at = ? WHERE id = ?",
                        [self.clock(), before["id"]])

    def _undo_cohort_create(self, before: Any, after: dict[str, Any]) -> None:
        cohort_id = self.store.cohort_id(after["slug"])
        for table, what in (("devices", "devices"), ("activations", "activations")):
            if self.db.execute(f"SELECT 1 FROM {table} WHERE cohort_id = ?",
                               [cohort_id]).fetchone():
                raise RuleViolation(f"Cohort {after['slug']} has {what} now; move or pull them "
                                    "first.")
        self.db.execute("DELETE FROM cohorts WHERE id = ?", [cohort_id])

    def _undo_cohort_update(self, before: dict[str, Any], after: Any) -> None:
        fields = {k: v for k, v in before.items() if k != "slug"}
        self.db.execute(
            f"UPDATE cohorts SET {', '.join(f'{k} = ?' for k in fields)} WHERE slug = ?",
            [*(int(v) if isinstance(v, bool) else v for v in fields.values()), before["slug"]])

    def _undo_devices_move(self, before: list[dict[str, Any]], after: Any) -> None:
        ids = {c.slug: self.store.cohort_id(c.slug) for c in self.store.cohorts()}
        self.db.conn.executemany(
            "UPDATE devices SET cohort_id = ?, staged = ? WHERE serial = ?",
            [(ids[d["cohort"]], int(d["staged"]), d["serial"]) for d in before])

    def _undo_key_create(self, before: Any, after: dict[str, Any]) -> None:
        self.db.execute("DELETE FROM project_keys WHERE key = ?", [after["key"]])

    def _undo_key_update(self, before: dict[str, Any], after: Any) -> None:
        override = self.store.cohort_id(before["cohort_override"]) \
            if before["cohort_override"] else None
        self.db.execute("UPDATE project_keys SET cohort_override_id = ? WHERE key = ?",
                        [override, before["key"]])


def _conflict_keys(kind: str, entity: str, staged: bool) -> set[str]:
    keys = {entity}
    if staged and entity.startswith("activation:"):
        keys.add("staging:" + entity.split(":", 1)[1].split("/", 1)[0])
    if kind == "devices.move":
        keys.add("devices")
    return keys


Inverse = Callable[[Any, Any, Any], None]

_INVERSES: dict[str, Inverse] = {
    "release.create": UndoEdits._undo_release_create,
    "delta.create": UndoEdits._undo_release_create,
    "release.update": UndoEdits._undo_release_update,
    "release.delete": UndoEdits._undo_release_delete,
    "payload.add": UndoEdits._undo_payload_add,
    "payload.remove": UndoEdits._undo_payload_remove,
    "activation.create": UndoEdits._undo_activation_create,
    "activation.rollout": UndoEdits._undo_activation_rollout,
    "activation.pull": UndoEdits._undo_activation_pull,
    "activation.guard": GuardEdits._undo_guard,
    "activation.resume": GuardEdits._undo_resume,
    "cohort.create": UndoEdits._undo_cohort_create,
    "cohort.update": UndoEdits._undo_cohort_update,
    "devices.move": UndoEdits._undo_devices_move,
    "project_key.create": UndoEdits._undo_key_create,
    "project_key.update": UndoEdits._undo_key_update,
}
