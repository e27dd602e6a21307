"""``ota-desktop simulate``: the fleet simulator from the command line (training, demos, CI)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ota_desktop.changes import new_seed
from ota_desktop.errors import BadInput
from ota_desktop.simulator import (
    Pacer,
    SimSettings,
    Simulator,
    describe_duration,
    parse_duration,
)

Command = Callable[[argparse.Namespace], int]


def register(sub: Any, command: Callable[..., argparse.ArgumentParser]) -> dict[str, Command]:
    p = command("simulate", "simulated devices poll, download, succeed or fail and report "
                            "back (training and demos)")
    p.add_argument("--cohort", required=True)
    p.add_argument("--software-type", default="main")
    p.add_argument("--devices", type=int, metavar="N",
                   help="how many of the cohort's devices take part (default: all)")
    p.add_argument("--create", type=int, default=0, metavar="N",
                   help="also add N simulated devices sim-0001… to the cohort")
    p.add_argument("--start-version", metavar="V",
                   help="the version created devices report (default: the lowest known)")
    p.add_argument("--hardware-version", metavar="H", help="created devices' hardware version")
    p.add_argument("--interval", default="1h", metavar="S",
                   help="polling interval in simulated time: 90, 15m, 1h (default 1h)")
    p.add_argument("--failure-rate", default="0", metavar="R",
                   help="share of updates that fail: 0.05 or 5%% (default 0)")
    p.add_argument("--seed", type=int, help="the same seed gives the same run (default: random)")
    p.add_argument("--speed", type=float, default=0, metavar="X",
                   help="simulated seconds per real second; 0 runs as fast as it can (default)")
    p.add_argument("--duration", default="1d", metavar="D",
                   help="how much simulated time to run: 30m, 6h, 2d (default 1d)")
    p.add_argument("--bandwidth", type=float, default=2_000_000, metavar="BYTES_PER_S",
                   help="simulated download speed (default 2,000,000 bytes/s)")
    p.add_argument("--project-key", help="poll with this key (its cohort override applies)")
    p.add_argument("--json", action="store_true")
    return {"simulate": _cmd_simulate}


def _rate(text: str) -> float:
    try:
        value = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    except ValueError as exc:
        raise BadInput(f"--failure-rate takes 0.05 or 5%, not {text!r}.") from exc
    return value


def _cmd_simulate(args: argparse.Namespace) -> int:
    from ota_desktop.cli import _matrix_text, _open_existing

    _open_existing(args.db).close()  # a clear error for a missing file
    if not (args.speed == 0 or 0.01 <= args.speed <= 1_000_000):  # NaN fails both
        raise BadInput("--speed is 0 (as fast as possible) or between 0.01 and 1,000,000.")
    duration = parse_duration(args.duration)
    if not 0 < duration <= MAX_DURATION_S:
        raise BadInput("--duration is above 0 and at most 365 days of simulated time.")
    seed = args.seed if args.seed is not None else new_seed()
    settings = SimSettings(
        args.cohort, args.software_type, devices=args.devices, create=args.create,
        start_version=args.start_version,
        attributes={"hardware_version": args.hardware_version} if args.hardware_version
        else None, interval_s=parse_duration(args.interval), failure_rate=_rate(args.failure_rate),
        seed=seed, bandwidth=args.bandwidth, project_key=args.project_key)
    started = time.perf_counter()
    sim = Simulator(Path(args.db), settings)
    try:
        if args.speed == 0:
            sim.run_for(duration)
        else:
            _paced(sim, duration, args.speed)
        c = sim.counters
        matrix = sim.matrix().to_json()
    finally:
        sim.close()
    elapsed = time.perf_counter() - started
    if args.json:
        print(json.dumps({"seed": seed, "devices": len(sim.serials), "real_seconds": elapsed,
                          **c.to_json(), "matrix": matrix}, indent=2))
        return 0
    attempts = c.successes + c.failures
    print(f"Simulated {describe_duration(c.sim_time)} of {len(sim.serials):,} devices in "
          f"cohort {args.cohort} (seed {seed}) in {elapsed:.1f} s.")
    print(f"  polls {c.polls:,} · downloads {c.downloads:,} · succeeded {c.successes:,} · "
          f"failed {c.failures:,}"
          + (f" ({100 * c.failures / attempts:.1f}%)" if attempts else ""))
    for at, reason in c.pauses:
        print(f"  after {describe_duration(at)}: {reason}")
    print(_matrix_text(matrix))
    return 0


MAX_DURATION_S = 365 * 86_400


def _paced(sim: Simulator, duration: float, speed: float) -> None:
    pacer = Pacer(speed)
    pacer.start()
    shown = time.monotonic()
    while sim.counters.sim_time < duration - 1e-9:
        time.sleep(min(0.05, max(0.0, sim.tick_s - sim.backlog) / speed))
        sim.step(pacer.due(), budget_s=0.25, until=duration)
        sim.drop_backlog(keep=speed)  # at most a second behind: slower, never piling up
        if time.monotonic() - shown >= 1:
            shown = time.monotonic()
            c = sim.counters
            print(f"  {describe_duration(c.sim_time)}: polls {c.polls:,}, downloads "
                  f"{c.downloads:,}, succeeded {c.successes:,}, failed {c.failures:,}",
                  file=sys.stderr, flush=True)
        if sim.counters.sim_time + sim.tick_s > duration + 1e-9:
            break  # the last tick would run past the end
