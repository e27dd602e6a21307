"""Device check-ins, configData and hawkBit feedback, written in batches off the hot path.

Requests only enqueue; one writer thread with its own SQLite connection drains the queue and
writes everything that arrived in one transaction, so a poll never waits on a commit and the
database sees one transaction per batch, not one per request. Check-ins are device reports,
not edits, so they are not recorded as operations. Final deployment results also feed the
rollout guards in the same transaction (:mod:`ota_desktop.guard`), which may pause a rollout.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ota_desktop.guard import Result, record_results
from ota_desktop.model import attributes_key
from ota_desktop.service import utc_now
from ota_desktop.store.store import DeviceRow, Store

log = logging.getLogger(__name__)
BATCH = 5000
SWEEP_S = 0.2  # how often polls that changed nothing are written (their last-seen time)
_FLUSH = object()  # a marker: write what is pending now


@dataclass(frozen=True)
class CheckIn:
    serial: str
    software_type: str
    version: str | None  # None: the device did not say (hawkBit polls)
    attributes: dict[str, str] = field(default_factory=dict)
    replace_attributes: bool = False
    at: str = field(default_factory=utc_now)


@dataclass(frozen=True)
class Seen:
    """A poll from a known device that reported nothing new: only its last-seen time moves
    (stamped when the writer sweeps, at most SWEEP_S later)."""

    serial: str
    at: str = ""


def check_in(serial: str, device: DeviceRow | None, software_type: str, version: str | None,
             attributes: dict[str, str]) -> CheckIn | Seen:
    """The cheapest event that records this poll."""
    if device is not None and (version is None or version == device.current_version) and all(
            device.attributes.get(k) == v for k, v in attributes.items()):
        return Seen(serial)
    return CheckIn(serial, software_type, version, attributes)


@dataclass(frozen=True)
class Feedback:
    serial: str
    action_id: str
    kind: str  # "deployment" or "cancel"
    execution: str
    finished: str
    progress: Any
    details: list[str]
    new_version: str | None = None  # set on a successful deployment
    at: str = field(default_factory=utc_now)


@dataclass(frozen=True)
class ActionOffered:
    action_id: str
    serial: str
    release_label: str
    target_version: str
    payload_id: int | None
    status: str = "open"
    at: str = field(default_factory=utc_now)
    #: the cohort whose activation served it (a project key may override the device's own)
    cohort: str | None = None


Event = CheckIn | Seen | Feedback | ActionOffered


class CheckInWriter:
    def __init__(self, path: Path, on_batch: Callable[[int], None] | None = None,
                 on_devices_written: Callable[[list[str]], None] | None = None) -> None:
        self.path = path
        self.on_devices_written = on_devices_written
        self.queue: queue.Queue[Event | object | None] = queue.Queue()
        self.on_batch = on_batch
        self.written = 0
        self.seen: dict[str, str] = {}
        self._thread = threading.Thread(target=self._run, name="ota-checkins", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def put(self, event: Event) -> None:
        if isinstance(event, Seen):
            # the common poll: a dict store, no queue; the writer sweeps these up
            self.seen[event.serial] = event.at
            return
        self.queue.put(event)

    def flush(self) -> None:
        """Wait until everything recorded so far is committed."""
        self.queue.put(_FLUSH)
        self.queue.join()

    def stop(self) -> None:
        self.queue.put(None)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        store = Store.open(self.path)
        try:
            while True:
                taken = 0
                try:
                    first = self.queue.get(timeout=SWEEP_S)
                    taken = 1
                except queue.Empty:
                    first = _FLUSH
                batch: list[Event] = []
                stop = first is None
                if isinstance(first, Event):
                    batch.append(first)
                while len(batch) < BATCH and not stop:
                    try:
                        item = self.queue.get_nowait()
                    except queue.Empty:
                        break
                    taken += 1
                    if item is None:
                        stop = True
                    elif isinstance(item, Event):
                        batch.append(item)
                seen, self.seen = self.seen, {}
                try:
                    if batch or seen:
                        self._write(store, batch, seen)
                finally:
                    for _ in range(taken):
                        self.queue.task_done()
                if stop:
                    return
        finally:
            store.close()


    def _write(self, store: Store, batch: list[Event], seen: dict[str, str]) -> None:
        try:
            changed = write_batch(store, batch, seen)
        except Exception:
            # One bad event must not lose the others: write them one by one, skip the bad.
            log.exception("a batch of %d check-ins failed; retrying one by one", len(batch))
            changed = []
            for event in batch:
                try:
                    changed += write_batch(store, [event])
                except Exception:
                    log.exception("dropped a check-in that cannot be written: %r", event)
            try:
                write_batch(store, [], seen)
            except Exception:
                log.exception("could not record last-seen times")
        if self.on_devices_written and changed:
            self.on_devices_written(changed)
        self.written += len(batch) + len(seen)
        if self.on_batch:
            self.on_batch(len(batch) + len(seen))


def write_batch(store: Store, batch: list[Event],
                seen: dict[str, str] | None = None) -> list[str]:
    """Write ``batch`` and the last-seen times in ``seen`` (serial -> time) in one
    transaction; returns the serials whose device rows changed (more than last-seen)."""
    db = store.db
    seen = dict(seen or {})
    with db.atomic():
        checkins: dict[str, CheckIn] = {}
        for event in batch:
            if isinstance(event, CheckIn):
                previous = checkins.get(event.serial)
                if previous is not None and not event.replace_attributes:
                    merged = {**previous.attributes, **event.attributes}
                    event = CheckIn(event.serial, event.software_type,
                                    event.version or previous.version, merged,
                                    previous.replace_attributes, event.at)
                checkins[event.serial] = event
            elif isinstance(event, Feedback) and event.new_version:
                # a successful update: the device now runs the release it installed
                previous = checkins.get(event.serial)
                checkins[event.serial] = CheckIn(
                    event.serial, previous.software_type if previous else "",
                    event.new_version, previous.attributes if previous else {}, False, event.at)
        _write_checkins(store, list(checkins.values()))
        seen.update((e.serial, e.at) for e in batch if isinstance(e, Seen))
        for serial in checkins:
            seen.pop(serial, None)  # its check-in already set last_seen
        if seen:
            at = max(seen.values()) or utc_now()
            serials = list(seen)
            for start in range(0, len(serials), 500):
                part = serials[start:start + 500]
                db.execute(f"UPDATE devices SET last_seen = ? WHERE serial IN "
                           f"({', '.join('?' * len(part))})", [at, *part])
        for event in batch:
            if isinstance(event, Feedback):
                db.execute(
                    "INSERT INTO ddi_feedback (serial, action_id, kind, execution, finished, "
                    "progress, details, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [event.serial, event.action_id, event.kind, event.execution, event.finished,
                     json.dumps(event.progress), json.dumps(event.details), event.at])
                status = _action_status(event)
                if status:
                    db.execute("UPDATE ddi_actions SET status = ?, updated_at = ? "
                               "WHERE serial = ? AND action_id = ?",
                               [status, event.at, event.serial, event.action_id])
            elif isinstance(event, ActionOffered):
                db.execute(
                    "INSERT INTO ddi_actions (action_id, serial, release_label, target_version, "
                    "payload_id, status, created_at, updated_at, cohort_id) VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, ?, (SELECT id FROM cohorts WHERE slug = ?)) "
                    "ON CONFLICT (serial, action_id) DO UPDATE SET updated_at = excluded.updated_at",
                    [event.action_id, event.serial, event.release_label, event.target_version,
                     event.payload_id, event.status, event.at, event.at, event.cohort])
        results = [Result(e.serial, e.action_id, e.finished == "failure", e.at) for e in batch
                   if isinstance(e, Feedback) and e.kind == "deployment"
                   and e.execution == "closed" and e.finished in ("success", "failure")]
        if results:
            for reason in record_results(store, results):
                log.warning("%s", reason)
    return list(checkins)


def _action_status(event: Feedback) -> str | None:
    if event.kind == "cancel":
        return "canceled" if event.execution == "closed" and event.finished == "success" else None
    if event.execution == "closed":
        return "succeeded" if event.finished == "success" else "failed"
    if event.execution in ("canceled", "rejected"):
        return event.execution
    return None


def _write_checkins(store: Store, checkins: list[CheckIn]) -> None:
    if not checkins:
        return
    db = store.db
    existing = store.devices_by_serial([c.serial for c in checkins])
    default_id = store.default_cohort_id()
    software_types = store.software_types()
    for c in checkins:
        device = existing.get(c.serial)
        if device is None:
            software_type = c.software_type or (software_types[0] if software_types else "main")
            cursor = db.execute(
                "INSERT INTO devices (serial, cohort_id, software_type, current_version, "
                "attributes, staged, created_at, last_seen) VALUES (?, ?, ?, ?, ?, 0, ?, ?)",
                [c.serial, default_id, software_type, c.version or "",
                 attributes_key(c.attributes), c.at, c.at])
            if c.version:
                db.execute("INSERT INTO device_versions (device_id, version, reported_at) "
                           "VALUES (?, ?, ?)", [cursor.lastrowid, c.version, c.at])
            continue
        attributes = dict(c.attributes) if c.replace_attributes else {**device.attributes,
                                                                       **c.attributes}
        version = c.version if c.version is not None else device.current_version
        software_type = c.software_type or device.software_type
        if (version, attributes, software_type) == (device.current_version, device.attributes,
                                                    device.software_type):
            # the common poll: only the time moves (and the group triggers stay quiet)
            db.execute("UPDATE devices SET last_seen = ? WHERE id = ?", [c.at, device.id])
            continue
        db.execute(
            "UPDATE devices SET current_version = ?, attributes = ?, software_type = ?, "
            "last_seen = ? WHERE id = ?",
            [version, attributes_key(attributes), software_type, c.at, device.id])
        if version and version != device.current_version:
            db.execute("INSERT INTO device_versions (device_id, version, reported_at) "
                       "VALUES (?, ?, ?)", [device.id, version, c.at])
