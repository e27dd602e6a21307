"""Rollout guards at work: count device results per activation and pause a rollout whose
failures pass its threshold.

A result is a device's final hawkBit deployment feedback (``closed`` with ``success`` or
``failure``) for an action that installs a release. It counts toward that release's served
activation in the device's cohort (a Delta counts for the Delta's activation, a Full release
for the Full one) when it arrives after the activation started or was last resumed. Each
(activation, device) keeps the time of its last result and of its last failure in
``guard_reports``, so a device is counted once however often it retries, a check costs one
upsert per result plus one indexed count per guarded activation (never a scan of the feedback
table), and a resume needs no clean-up: counting simply starts again at its time.

This runs inside the check-in writer's transaction (``write_batch``); a pause is recorded as
an operation by the actor "rollout guard" and, on a linked mirror, queued for the server.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from ota_desktop.auth import Principal
from ota_desktop.errors import OtaError
from ota_desktop.model import ReleaseRef, RolloutGuard
from ota_desktop.store.store import Store, guard_of

log = logging.getLogger(__name__)
ACTOR = "rollout guard"
GUARD = Principal(ACTOR)


@dataclass(frozen=True)
class Result:
    """One device's final result for one hawkBit action."""

    serial: str
    action_id: str
    failed: bool
    at: str


def verdict(guard: RolloutGuard, failures: int, reports: int) -> str | None:
    """Why the guard pauses at these counts, or None while it holds."""
    if guard.failures is not None and failures >= guard.failures:
        return (f"paused by rollout guard: {failures} failure{'s' if failures != 1 else ''} "
                f"≥ {guard.failures}")
    if guard.percent is not None and reports >= guard.min_reports and reports > 0:
        share = 100 * failures / reports
        if share >= guard.percent:
            return (f"paused by rollout guard: {failures} of {reports} reporting devices "
                    f"failed ({share:.1f}% ≥ {guard.percent:g}%)")
    return None


def record_results(store: Store, results: Iterable[Result]) -> list[str]:
    """Count ``results`` (inside the caller's transaction) and pause every guarded
    activation whose threshold they pass; returns the pause reasons."""
    db = store.db.conn
    touched: dict[int, str] = {}  # activation id -> since
    for result in results:
        row = db.execute(
            "SELECT a.id, coalesce(a.guard_since, a.created_at) FROM ddi_actions x "
            "JOIN payloads p ON p.id = x.payload_id "
            "JOIN devices d ON d.serial = x.serial "
            "JOIN activations a ON a.cohort_id = coalesce(x.cohort_id, d.cohort_id) "
            "AND a.status = 'active' "
            "AND a.paused_at IS NULL AND (a.release_id = p.release_id "
            "OR a.delta_release_id = p.delta_release_id) "
            "WHERE x.serial = ? AND x.action_id = ?", [result.serial, result.action_id]
        ).fetchone()
        if row is None or result.at < row[1]:
            continue  # not an action of a served release here, or from before it (re)started
        db.execute(
            "INSERT INTO guard_reports (activation_id, serial, reported_at, failed_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (activation_id, serial) DO UPDATE SET "
            "reported_at = max(reported_at, excluded.reported_at), "
            "failed_at = coalesce(max(failed_at, excluded.failed_at), failed_at, "
            "excluded.failed_at)",
            [row[0], result.serial, result.at, result.at if result.failed else None])
        touched[int(row[0])] = row[1]
    reasons = []
    for activation_id, since in touched.items():
        reason = _check(store, activation_id, since)
        if reason:
            reasons.append(reason)
    return reasons


def _check(store: Store, activation_id: int, since: str) -> str | None:
    row = store.db.conn.execute(
        "SELECT a.guard_failures, a.guard_percent, a.guard_min_reports, c.slug, "
        "coalesce(r.software_type, d.software_type), r.version, d.from_version, d.to_version "
        "FROM activations a JOIN cohorts c ON c.id = a.cohort_id "
        "LEFT JOIN releases r ON r.id = a.release_id "
        "LEFT JOIN delta_releases d ON d.id = a.delta_release_id WHERE a.id = ?",
        [activation_id]).fetchone()
    guard = guard_of(row[0], row[1], row[2]) if row else None
    if row is None or guard is None:
        return None
    failures, reports = store.guard_tally(activation_id, since)
    reason = verdict(guard, failures, reports)
    if reason is None:
        return None
    ref = ReleaseRef(row[4], version=row[5]) if row[5] is not None else ReleaseRef(
        row[4], from_version=row[6], to_version=row[7])
    _pause(store, ref, row[3], reason)
    return reason


def _pause(store: Store, ref: ReleaseRef, cohort: str, reason: str) -> None:
    from ota_desktop.changes import Pause
    from ota_desktop.sync import mirror

    try:
        mirror.apply_local(store, Pause(ref, cohort, reason), principal=GUARD)
    except OtaError:  # e.g. it was paused or pulled meanwhile: the results stay counted
        log.exception("the rollout guard could not pause %s in %s", ref.label, cohort)
