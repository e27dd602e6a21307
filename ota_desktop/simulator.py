"""The fleet simulator, for training and demos: simulated devices poll the embedded resolver
on an interval, "download" the update they are offered (for a time proportional to its
payload size), succeed or fail at a set rate and report back.

Everything goes the way a real device's does: decisions come from the device server's own
read path (:class:`~ota_desktop.server.state.ServerState`: cached configuration, device rows
and decisions), and results are written by the check-in writer's ``write_batch`` as hawkBit
events (the action offered, then ``closed`` feedback with ``success`` and the new version or
``failure``), so device rows, version history, group counts and rollout guards all follow
through the normal path.

Time is simulated: a heap of per-device events, advanced in fixed ticks of simulated time
(1/60 of the polling interval). Every decision in a tick reads the project as the previous
tick left it, and a tick's events are written in one transaction. Because ticks are fixed in
simulated time and one seeded random generator is drawn in event order, the same seed and
settings give the same events and the same final matrix however the ticks are driven (all at
once, stepped in a test, or paced in real time at any speed). Records are stamped with the
real time they are written, so they stay comparable with edits (a guard's resume time).

A Simulator belongs to the thread that created it (it owns SQLite connections).
"""

from __future__ import annotations

import heapq
import math
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ota_desktop.errors import BadInput, InvalidVersion
from ota_desktop.model import Configuration, Query
from ota_desktop.queries import matrix_for
from ota_desktop.server.checkins import ActionOffered, Event, Feedback, write_batch
from ota_desktop.server.ddi import action_id_for
from ota_desktop.server.state import ServerState
from ota_desktop.service import NewDevice, ProjectService, utc_now
from ota_desktop.versions import display_order

TICKS_PER_INTERVAL = 60
MAX_DEVICES = 2_000_000
EventKind = Literal["poll", "offer", "success", "failure"]


@dataclass(frozen=True)
class SimSettings:
    cohort: str
    software_type: str = "main"
    #: how many of the cohort's devices take part (first by serial); None: all of them
    devices: int | None = None
    #: new simulated devices ``sim-0001…`` to add to the cohort (kept after the run)
    create: int = 0
    #: what created devices report (default: the lowest version in the cohort or releases)
    start_version: str | None = None
    #: created devices' attributes (default: the first hardware version payloads are for)
    attributes: Mapping[str, str] | None = None
    interval_s: float = 3600.0
    failure_rate: float = 0.0
    seed: int = 0
    #: download speed, bytes per simulated second
    bandwidth: float = 2_000_000.0
    project_key: str | None = None

    @property
    def tick_s(self) -> float:
        return self.interval_s / TICKS_PER_INTERVAL

    def check(self) -> None:
        if not 1 <= self.interval_s <= 30 * 86_400:
            raise BadInput("The polling interval is between 1 second and 30 days.")
        if not 0 <= self.failure_rate <= 1:
            raise BadInput("The failure rate is between 0 and 1 (e.g. 0.05 for 5%).")
        if self.devices is not None and not 0 <= self.devices <= MAX_DEVICES:
            raise BadInput(f"Simulate between 0 and {MAX_DEVICES:,} existing devices.")
        if not 0 <= self.create <= MAX_DEVICES:
            raise BadInput(f"Create between 0 and {MAX_DEVICES:,} simulated devices.")
        if not self.bandwidth > 0:
            raise BadInput("The download speed must be above 0 bytes per second.")
        if self.start_version is not None and not self.start_version.strip():
            raise BadInput("Name the version new simulated devices start on, or leave it out.")


@dataclass
class SimCounters:
    polls: int = 0
    downloads: int = 0
    successes: int = 0
    failures: int = 0
    sim_time: float = 0.0  # simulated seconds since the start
    #: (simulated time, reason) of each rollout the guard paused during the run
    pauses: list[tuple[float, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"polls": self.polls, "downloads": self.downloads,
                "successes": self.successes, "failures": self.failures,
                "sim_time": self.sim_time,
                "pauses": [{"at": at, "reason": reason} for at, reason in self.pauses]}


@dataclass(frozen=True)
class SimEvent:
    at: float  # simulated seconds
    serial: str
    kind: EventKind
    version: str  # the version the device reports (poll) or installs (offer, success, failure)


class Simulator:
    def __init__(self, path: Path, settings: SimSettings, *, log_events: bool = False) -> None:
        settings.check()
        self.settings = settings
        self.state = ServerState(path)  # the device server's own read path
        self.store = self.state.store  # this thread's connection
        if self.store.db.execute("SELECT 1 FROM sync_link WHERE active = 1").fetchone():
            raise BadInput("This project syncs with a server: simulated failures would pause "
                           "real rollouts there. Simulate on a copy that is not connected "
                           "(File → New Project, or 'ota-desktop export' and 'import').")
        config = self.state.config()
        if settings.project_key is not None and config.project_key(settings.project_key) is None:
            raise BadInput("That project key is not known to this project.")
        self.rng = random.Random(settings.seed)
        self.counters = SimCounters()
        self.events: list[SimEvent] | None = [] if log_events else None
        self.serials = self._choose_devices()
        self._queue: list[tuple[float, int, int, bool]] = []  # (time, seq, device, done?)
        self._seq = 0
        self._working: dict[int, tuple[str, str]] = {}  # device -> (action id, target)
        self._owed = 0.0
        self._ticks = 0
        for index in range(len(self.serials)):
            self._push(self.rng.uniform(0, settings.interval_s), index, done=False)
        self._paused_ids = self._paused(self.state.config())

    # --- public API ----------------------------------------------------------------------

    @property
    def tick_s(self) -> float:
        return self.settings.tick_s

    @property
    def backlog(self) -> float:
        """Simulated seconds asked for but not run yet (less than a tick, or over budget)."""
        return self._owed

    def step(self, seconds: float, *, budget_s: float | None = None,
             until: float | None = None) -> int:
        """Advance simulated time by ``seconds`` in whole ticks (a remainder is kept for the
        next call); stop early after ``budget_s`` of real time (the rest stays owed) or at
        simulated time ``until``. Returns the number of ticks run."""
        self._owed += max(0.0, seconds)
        started = time.perf_counter()
        ran = 0
        while self._owed >= self.tick_s - 1e-9:
            if until is not None and self.counters.sim_time + self.tick_s > until + 1e-9:
                self._owed = 0.0
                break
            self._tick()
            self._owed -= self.tick_s
            ran += 1
            if budget_s is not None and time.perf_counter() - started >= budget_s:
                break
        return ran

    def run_for(self, seconds: float) -> None:
        """Run exactly the ticks that cover ``seconds`` of simulated time from now."""
        ticks = max(0, math.ceil(seconds / self.tick_s - 1e-9))
        for _ in range(ticks):
            self._tick()

    def drop_backlog(self, keep: float) -> None:
        """Forget owed time beyond ``keep`` simulated seconds (the machine cannot keep up
        with the asked speed: simulated time then runs slower instead of piling up)."""
        self._owed = min(self._owed, max(0.0, keep))

    def matrix(self) -> Any:
        return matrix_for(self.store, self.settings.cohort, self.settings.software_type)

    def close(self) -> None:
        self.store.close()

    # --- devices -------------------------------------------------------------------------

    def _choose_devices(self) -> list[str]:
        s = self.settings
        store = self.store
        config = self.state.config()
        cohort_id = store.cohort_id(s.cohort)
        if s.software_type not in config.software_types:
            raise BadInput(f"There is no software type {s.software_type!r} in this project.")
        limit = -1 if s.devices is None else s.devices
        chosen = [r[0] for r in store.db.execute(
            "SELECT serial FROM devices WHERE cohort_id = ? AND software_type = ? "
            "ORDER BY serial LIMIT ?", [cohort_id, s.software_type, limit])]
        if s.create:
            width = max(4, len(str(s.create)))
            names = [f"sim-{i:0{width}d}" for i in range(1, s.create + 1)]
            known = store.devices_by_serial(names)
            elsewhere = [n for n, d in known.items() if d.cohort != s.cohort]
            if elsewhere:
                raise BadInput(f"{len(elsewhere):,} simulated devices ({elsewhere[0]}, …) are "
                               "in another cohort already; move them, or simulate them there.")
            missing = [n for n in names if n not in known]
            if missing:
                version = s.start_version or self._lowest_version(config)
                if s.start_version is not None:
                    _check_version(config, s.start_version)
                attributes = dict(s.attributes) if s.attributes is not None else \
                    self._default_attributes(config)
                ProjectService(store, actor="fleet simulator").add_devices(
                    NewDevice(n, version, s.cohort, s.software_type, attributes)
                    for n in missing)
            seen = set(chosen)
            chosen += [n for n in names if n not in seen]
        if not chosen:
            raise BadInput(f"Cohort {s.cohort} has no {s.software_type} devices to simulate; "
                           "create some (a number of new simulated devices).")
        return chosen

    def _lowest_version(self, config: Configuration) -> str:
        versions = {g.version for g in self.store.groups(self.settings.cohort,
                                                         self.settings.software_type)}
        versions |= {r.version for r in config.releases
                     if r.software_type == self.settings.software_type}
        ordered = display_order(config.scheme, versions - {""})
        if not ordered:
            raise BadInput("Name the version new simulated devices start on.")
        return ordered[0]

    def _default_attributes(self, config: Configuration) -> dict[str, str]:
        known = sorted(self.state.known_hardware(config, self.settings.software_type) - {""})
        return {"hardware_version": known[0]} if known else {}

    # --- the clock -------------------------------------------------------------------------

    def _push(self, at: float, index: int, *, done: bool) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (at, self._seq, index, done))

    def _tick(self) -> None:
        end = (self._ticks + 1) * self.tick_s
        config = self.state.config()
        now = utc_now()
        batch: list[Event] = []
        seen: dict[str, str] = {}
        while self._queue and self._queue[0][0] < end:
            at, _, index, done = heapq.heappop(self._queue)
            if done:
                self._finish(at, index, now, batch)
            else:
                self._poll(at, index, config, now, batch, seen)
        self._ticks += 1
        self.counters.sim_time = end
        if batch or seen:
            with self.store.writing():
                changed = write_batch(self.store, batch, seen)
            if changed:
                self.state.forget_devices(changed)
            after = self.state.config()
            if after is not config:
                self._note_pauses(after, end)

    def _poll(self, at: float, index: int, config: Configuration, now: str,
              batch: list[Event], seen: dict[str, str]) -> None:
        s = self.settings
        serial = self.serials[index]
        stored = self.state.device(serial)
        if stored is None:  # deleted meanwhile: it polls no more
            return
        self.counters.polls += 1
        seen[serial] = now
        current = stored.current_version or None
        query = Query(serial, stored.software_type, current, stored.attributes, s.project_key)
        decision = self.state.decide(query, stored.state(), config)
        self._log(at, serial, "poll", stored.current_version)
        release, payload, target = decision.release, decision.payload, decision.target_version
        if release is None or payload is None or target is None:
            self._push(at + s.interval_s, index, done=False)
            return
        action = action_id_for(serial, decision)
        batch.append(ActionOffered(action, serial, release.label, target, payload.id, at=now,
                                   cohort=decision.effective_cohort))
        self.counters.downloads += 1
        self._working[index] = (action, target)
        self._log(at, serial, "offer", target)
        seconds = max(1.0, payload.size / s.bandwidth) * self.rng.uniform(0.8, 1.25)
        self._push(at + seconds, index, done=True)

    def _finish(self, at: float, index: int, now: str, batch: list[Event]) -> None:
        serial = self.serials[index]
        action, target = self._working.pop(index)
        if self.rng.random() < self.settings.failure_rate:
            self.counters.failures += 1
            batch.append(Feedback(serial, action, "deployment", "closed", "failure", None,
                                  ["simulated failure"], None, at=now))
            self._log(at, serial, "failure", target)
        else:
            self.counters.successes += 1
            batch.append(Feedback(serial, action, "deployment", "closed", "success", None,
                                  ["simulated update"], target, at=now))
            self._log(at, serial, "success", target)
        self._push(at + self.settings.interval_s, index, done=False)

    def _log(self, at: float, serial: str, kind: EventKind, version: str) -> None:
        if self.events is not None:
            self.events.append(SimEvent(round(at, 6), serial, kind, version))

    def _paused(self, config: Configuration) -> set[int | None]:
        return {a.id for a in config.activations if a.status == "active" and a.paused}

    def _note_pauses(self, config: Configuration, at: float) -> None:
        now = self._paused(config)
        for activation in config.activations:
            if activation.id in now and activation.id not in self._paused_ids:
                self.counters.pauses.append((at, f"{activation.release.label} in "
                                                 f"{activation.cohort}: {activation.paused}"))
        self._paused_ids = now


def _check_version(config: Configuration, version: str) -> None:
    """Created devices report a version the project's scheme reads."""
    if not version.strip() or len(version) > 128:
        raise BadInput("A start version is 1–128 characters.")
    try:
        config.scheme.precedence(version)
    except InvalidVersion as exc:
        raise BadInput(str(exc)) from exc


class Pacer:
    """Simulated seconds owed since the last call, at a speed that may change at any time."""

    def __init__(self, speed: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.speed = speed
        self._clock = clock
        self._last: float | None = None

    def start(self) -> None:
        self._last = self._clock()

    def pause(self) -> None:
        self._last = None

    def due(self) -> float:
        if self._last is None:
            return 0.0
        now = self._clock()
        owed = (now - self._last) * self.speed
        self._last = now
        return owed


_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400}


def parse_duration(text: str) -> float:
    """Seconds from ``90``, ``90s``, ``15m``, ``2h``, ``1d`` or ``1h30m``."""
    parts = re.fullmatch(r"\s*((?:\d+(?:\.\d+)?\s*[smhd]?\s*)+)", text.lower())
    if not parts:
        raise BadInput(f"{text!r} is not a duration (e.g. 90, 15m, 2h, 1h30m).")
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*([smhd]?)", parts.group(1)):
        total += float(number) * _UNITS[unit]
    return total


def describe_duration(seconds: float) -> str:
    seconds = round(seconds)
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "",
             f"{minutes}m" if minutes else "", f"{secs}s" if secs and not days else ""]
    return " ".join(p for p in parts if p) or "0s"
