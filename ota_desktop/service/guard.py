"""Rollout guards: set one on an activation, pause it (the guard does), resume it.

A paused activation stays ``active`` in status (it still blocks deleting its release and
activating it twice) but is not served: the resolver skips it as it skips a pulled one.
Resuming clears the pause and restarts the count, so results from before do not count again.
"""

from __future__ import annotations

from typing import Any

from ota_desktop.errors import BadInput, NotFound, RuleViolation
from ota_desktop.model import ReleaseRef, RolloutGuard
from ota_desktop.service.base import ServiceBase

MAX_FAILURES = 10_000_000


def check_guard(guard: RolloutGuard | None) -> None:
    if guard is None:
        return
    if guard.failures is None and guard.percent is None:
        raise BadInput("A rollout guard needs a number of failures or a failure percentage.")
    if guard.failures is not None and not 1 <= guard.failures <= MAX_FAILURES:
        raise BadInput(f"A rollout guard's failure count is between 1 and {MAX_FAILURES:,}.")
    if guard.percent is not None and not 0 < guard.percent <= 100:
        raise BadInput("A rollout guard's failure percentage is above 0 and at most 100.")
    if not 1 <= guard.min_reports <= MAX_FAILURES:
        raise BadInput("A rollout guard needs at least 1 report before a percentage counts.")


def guard_json(guard: RolloutGuard) -> dict[str, Any]:
    return {"failures": guard.failures, "percent": guard.percent,
            "min_reports": guard.min_reports}


class GuardEdits(ServiceBase):
    def set_guard(self, ref: ReleaseRef, cohort: str, guard: RolloutGuard | None) -> None:
        """Set, change or (None) remove the rollout guard of an active activation. It is
        checked as results arrive: a threshold already passed pauses at the next report."""
        check_guard(guard)
        row = self._live_activation(ref, cohort)
        before = self.db.execute("SELECT guard_failures, guard_percent, guard_min_reports "
                                 "FROM activations WHERE id = ?", [row[0]]).fetchone()
        values = tuple(guard_json(guard).values()) if guard else (None, None, None)
        if tuple(before) == values:
            return
        with self.operation("activation.guard", _entity(ref, cohort),
                            before={"id": row[0], "guard": list(before)}) as op:
            self.db.execute("UPDATE activations SET guard_failures = ?, guard_percent = ?, "
                            "guard_min_reports = ?, updated_at = ? WHERE id = ?",
                            [*values, self.clock(), row[0]])
            op.after = {"id": row[0], "guard": guard_json(guard) if guard else None}

    def pause(self, ref: ReleaseRef, cohort: str, reason: str,
              counts: dict[str, int] | None = None) -> None:
        """Stop serving an active activation (the rollout guard calls this)."""
        if not reason.strip() or len(reason) > 500 or not reason.isprintable():
            raise BadInput("A pause needs a reason (printable, at most 500 characters).")
        row = self._live_activation(ref, cohort)
        if row[1] is not None:
            return  # already paused (two guards saw it, say a mirror's and its server's)
        now = self.clock()
        with self.operation("activation.pause", _entity(ref, cohort),
                            before={"id": row[0], "paused_reason": None}) as op:
            self.db.execute("UPDATE activations SET paused_at = ?, paused_reason = ?, "
                            "updated_at = ? WHERE id = ?", [now, reason, now, row[0]])
            op.after = {"id": row[0], "paused_reason": reason, **(counts or {})}

    def resume(self, ref: ReleaseRef, cohort: str) -> None:
        """Serve a paused activation again; failures are counted afresh from now."""
        row = self._live_activation(ref, cohort)
        if row[1] is None:
            raise RuleViolation(f"{_name(ref)} is not paused in cohort {cohort}.")
        state = self.db.execute("SELECT paused_at, paused_reason, guard_since FROM activations "
                                "WHERE id = ?", [row[0]]).fetchone()
        now = self.clock()
        with self.operation("activation.resume", _entity(ref, cohort),
                            before={"id": row[0], "paused_at": state[0],
                                    "paused_reason": state[1], "guard_since": state[2]}) as op:
            self.db.execute("UPDATE activations SET paused_at = NULL, paused_reason = NULL, "
                            "guard_since = ?, updated_at = ? WHERE id = ?", [now, now, row[0]])
            op.after = {"id": row[0], "guard_since": now}

    def _live_activation(self, ref: ReleaseRef, cohort: str) -> tuple[int, str | None]:
        """(id, paused_reason) of the release's active activation in ``cohort``."""
        column, release_id = self._release_id(ref)
        cohort_id = self.store.cohort_id(cohort)
        row = self.db.execute(
            f"SELECT id, paused_reason FROM activations WHERE {column} = ? AND cohort_id = ? "
            "AND status = 'active'", [release_id, cohort_id]).fetchone()
        if row is None:
            raise NotFound(f"{_name(ref)} is not active in cohort {cohort!r}.")
        return int(row[0]), row[1]

    # --- inverses for undo (run inside the undo's transaction) ---------------------------

    def _undo_guard(self, before: dict[str, Any], after: Any) -> None:
        self.db.execute("UPDATE activations SET guard_failures = ?, guard_percent = ?, "
                        "guard_min_reports = ?, updated_at = ? WHERE id = ?",
                        [*before["guard"], self.clock(), before["id"]])

    def _undo_resume(self, before: dict[str, Any], after: Any) -> None:
        self.db.execute("UPDATE activations SET paused_at = ?, paused_reason = ?, "
                        "guard_since = ?, updated_at = ? WHERE id = ? AND status = 'active'",
                        [before["paused_at"], before["paused_reason"], before["guard_since"],
                         self.clock(), before["id"]])


def _name(ref: ReleaseRef) -> str:
    return (f"Delta {ref.from_version}→{ref.to_version}" if ref.is_delta
            else f"Full release {ref.version}")


def _entity(ref: ReleaseRef, cohort: str) -> str:
    return f"activation:{cohort}/{ref.label}"
