"""Activations (normal and staged) and the staged marks they draw."""

from __future__ import annotations

import random
from typing import Any

from ota_desktop.errors import BadInput, NotFound, RuleViolation
from ota_desktop.model import ActivationKind, ActivationStatus, ReleaseRef, RolloutGuard
from ota_desktop.service.base import ServiceBase
from ota_desktop.service.guard import check_guard, guard_json
from ota_desktop.staging import StagingChange, plan_staging


class ActivationEdits(ServiceBase):
    def activate(self, ref: ReleaseRef, cohort: str, *, kind: ActivationKind = "normal",
                 rollout_percent: float | None = None, seed: int | None = None,
                 guard: RolloutGuard | None = None) -> int:
        check_guard(guard)
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
        with self.operation("activation.create", f"activation:{cohort}/{ref.label}") as op:
            activation_id = self._insert_activation(column, release_id, cohort_id, kind,
                                                    rollout_percent, "active", guard)
            after: dict[str, Any] = {"id": activation_id, "cohort": cohort, "kind": kind,
                                     "rollout_percent": rollout_percent, "status": "active"}
            if guard is not None:
                after["guard"] = guard_json(guard)
            if kind == "staged" and rollout_percent is not None:
                after["staging"] = self._stage(cohort_id, activation_id, rollout_percent, seed)
            op.after = after
        return activation_id

    def restore_activation(self, ref: ReleaseRef, cohort: str, *, kind: ActivationKind,
                           rollout_percent: float | None, status: ActivationStatus,
                           guard: RolloutGuard | None = None, paused: str | None = None) -> int:
        """Re-create an activation as it was (snapshot import): staged marks are restored
        with the devices, so none are drawn here."""
        check_guard(guard)
        column, release_id = self._release_id(ref)
        cohort_id = self.store.cohort_id(cohort)
        with self.operation("activation.restore", f"activation:{cohort}/{ref.label}") as op:
            activation_id = self._insert_activation(column, release_id, cohort_id, kind,
                                                    rollout_percent, status, guard)
            if paused is not None and status == "active":
                self.db.execute("UPDATE activations SET paused_at = ?, paused_reason = ? "
                                "WHERE id = ?", [self.clock(), paused, activation_id])
            op.after = {"cohort": cohort, "kind": kind, "rollout_percent": rollout_percent,
                        "status": status, "guard": guard_json(guard) if guard else None,
                        "paused": paused}
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
        with self.operation("activation.rollout", f"activation:{cohort}/{ref.label}",
                            before={"rollout_percent": row[1]}) as op:
            self.db.execute("UPDATE activations SET rollout_percent = ?, updated_at = ? "
                            "WHERE id = ?", [percent, self.clock(), row[0]])
            staging = self._stage(cohort_id, row[0], percent, seed)
            op.after = {"id": row[0], "rollout_percent": percent, "staging": staging}
        return staging

    def deactivate(self, ref: ReleaseRef, cohort: str) -> None:
        """Pull (abort) the release's active activation in ``cohort``. Staged marks stay:
        they belong to the cohort, not to one activation."""
        column, release_id = self._release_id(ref)
        cohort_id = self.store.cohort_id(cohort)
        row = self.db.execute(
            f"SELECT id, status FROM activations WHERE {column} = ? AND cohort_id = ? "
            "AND status = 'active'", [release_id, cohort_id]).fetchone()
        if row is None:
            raise NotFound(f"That release is not active in cohort {cohort!r}.")
        with self.operation("activation.pull", f"activation:{cohort}/{ref.label}",
                            before={"id": row[0], "status": "active"}) as op:
            self.db.execute("UPDATE activations SET status = 'pulled', updated_at = ? "
                            "WHERE id = ?", [self.clock(), row[0]])
            op.after = {"id": row[0], "status": "pulled"}

    def _insert_activation(self, column: str, release_id: int, cohort_id: int,
                           kind: ActivationKind, rollout_percent: float | None,
                           status: ActivationStatus, guard: RolloutGuard | None = None) -> int:
        now = self.clock()
        cursor = self.db.execute(
            f"INSERT INTO activations ({column}, cohort_id, kind, rollout_percent, status, "
            "activated_by, created_at, updated_at, guard_failures, guard_percent, "
            "guard_min_reports, guard_since) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [release_id, cohort_id, kind, rollout_percent, status,
             self.principal.activated_by, now, now,
             *(guard_json(guard).values() if guard else (None, None, None)), now],
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
        # the ids let an undo restore the marks exactly
        return {"seed": seed, "cohort_size": len(ids), "marked": len(change.mark),
                "unmarked": len(change.unmark), "staged": change.target,
                "marked_ids": list(change.mark), "unmarked_ids": list(change.unmark)}

