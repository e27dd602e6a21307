"""Device-poll benchmark: our hawkBit DDI base poll against goosebit (another hawkBit DDI
server, when bench/setup_goosebit.sh has set it up) and the framework's ceiling (a bare
Starlette app returning fixed JSON), plus our Latest Release endpoint.

    python bench/ddi_poll.py [--devices 5000] [--seconds 10] [--goosebit VENV] [--quick]

Every target gets the same load client in the same run: wrk when installed (Debian's ``wrk``:
50 connections, 2 threads, a random known device per request), else an aiohttp client (the
test extra) with 50 concurrent pollers (client-bound: its figures understate fast servers).
One uvicorn worker each, access logs and INFO logging off. Both DDI servers know the same devices first: ours
from the demo file, goosebit from each device's configData (as SWUpdate sends it).
Every poll of ours still records its check-in (batched by the writer thread).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchlib import ROOT, Figure, free_port, serve_ours, start_server, stop, write_demo_file

from ota_desktop.demo import DEMO_DEVICE_COUNT, PROJECT_KEY
from ota_desktop.server.ddi import DDI_PREFIX
from ota_desktop.store import Store

SECTION = "DDI poll"
GOOSEBIT_VENV = ROOT / "bench" / ".venv-goosebit"
CONNECTIONS = 50
OURS_DDI = DDI_PREFIX + "/default/controller/v1/%s"
OURS_LATEST = ("/api/v0/releases/latest?&device_serial=%s&hardware_version=evt"
               "&software_type=main&current_version=%s")
GOOSEBIT_DDI = "/DEFAULT/controller/v1/%s"

Device = tuple[str, str]  # (serial, the version it runs)


@dataclass
class PollResult:
    rps: float
    p50: float
    p99: float
    requests: int
    non2xx: int


@dataclass
class Target:
    """What one load run asks: a path per device (``%s`` its serial, then its version)."""

    base_url: str
    path_format: str
    devices: Sequence[Device]
    headers: dict[str, str] = field(default_factory=dict)

    def path(self, device: Device) -> str:
        return self.path_format % device[: self.path_format.count("%s")]


# --- the one load client -----------------------------------------------------------------

class Load:
    """wrk when it is installed, else aiohttp: the same for every target of a run."""

    def __init__(self, workdir: Path, connections: int = CONNECTIONS,
                 client: str = "auto") -> None:
        self.workdir = workdir
        self.connections = connections
        self.wrk = shutil.which("wrk") if client != "aiohttp" else None
        if client == "wrk" and self.wrk is None:
            raise RuntimeError("wrk is not installed (apt-get install wrk)")

    def describe(self) -> str:
        if self.wrk:
            return f"wrk -t2 -c{self.connections}"
        return f"aiohttp, {self.connections} concurrent pollers (no wrk: client-bound)"

    def run(self, target: Target, seconds: float) -> PollResult:
        if self.wrk:
            return self._run_wrk(target, seconds)
        return asyncio.run(_aiohttp_load(target, seconds, self.connections))

    def _run_wrk(self, target: Target, seconds: float) -> PollResult:
        script = self._lua(target)
        out = subprocess.run([str(self.wrk), "-t2", f"-c{self.connections}",
                              f"-d{max(1, round(seconds))}s", "--latency", "-s", str(script),
                              target.base_url], capture_output=True, text=True,
                             check=True).stdout
        rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
        total = re.search(r"(\d+) requests in", out)
        if rps is None or total is None:
            raise RuntimeError(f"wrk printed no figures:\n{out}")

        def percentile(p: str) -> float:
            m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
            if m is None:
                return float("nan")
            value, unit = float(m.group(1)), m.group(2)
            return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

        errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        failed = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                           out)
        bad = int(errors.group(1)) if errors else 0
        if failed:
            bad += sum(int(g) for g in failed.groups())
        return PollResult(float(rps.group(1)), percentile("50"), percentile("99"),
                          int(total.group(1)), bad)

    def _lua(self, target: Target) -> Path:
        """wrk picks a random known device for every request."""
        paths = ",".join(f'"{target.path(d)}"' for d in target.devices)
        headers = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in target.headers.items())
        script = self.workdir / f"load-{abs(hash((target.base_url, target.path_format)))}.lua"
        script.write_text(textwrap.dedent("""
            local paths = {%s}
            %s
            math.randomseed(os.time())
            request = function()
              return wrk.format("GET", paths[math.random(#paths)])
            end
        """) % (paths, headers))
        return script


async def _aiohttp_load(target: Target, seconds: float, connections: int) -> PollResult:
    import aiohttp  # the test extra; httpx's pool is far too slow at 50 connections

    latencies: list[float] = []
    bad = 0
    paths = [target.path(d) for d in target.devices]
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(target.base_url, connector=connector,
                                     headers=target.headers) as session:
        started = time.perf_counter()
        deadline = started + seconds

        async def poller() -> None:
            nonlocal bad
            while (now := time.perf_counter()) < deadline:
                try:
                    async with session.get(random.choice(paths)) as r:
                        await r.read()
                        bad += r.status >= 400
                except aiohttp.ClientError:
                    bad += 1
                latencies.append((time.perf_counter() - now) * 1000)

        await asyncio.gather(*(poller() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [float("nan")] * 99
    return PollResult(len(latencies) / elapsed, q[49], q[98], len(latencies), bad)


# --- the servers -------------------------------------------------------------------------

def write_fleet(db: Path, devices: int) -> list[Device]:
    """The demo shrunk to about ``devices`` devices; their serials and versions."""
    write_demo_file(db, devices / DEMO_DEVICE_COUNT)
    store = Store.open(db)
    try:
        return [(r[0], r[1]) for r in store.db.execute(
            "SELECT serial, current_version FROM devices ORDER BY serial")]
    finally:
        store.close()


def uvicorn_stack(python: Path | str) -> str:
    """Which event loop and HTTP parser uvicorn's "auto" picks in that interpreter."""
    fast = subprocess.run([str(python), "-c", "import uvloop, httptools"],
                          capture_output=True).returncode == 0
    return "uvloop+httptools" if fast else "asyncio+h11"


def goosebit_ready(venv: Path) -> str | None:
    """None when the venv can run goosebit, else a sentence saying why not."""
    python = venv / "bin" / "python"
    if not python.exists():
        return (f"goosebit is not set up ({venv} does not exist): run "
                "'bash bench/setup_goosebit.sh' once to compare with it.")
    if subprocess.run([str(python), "-c", "import goosebit.settings"], capture_output=True,
                      cwd=venv).returncode != 0:
        return f"goosebit does not import in {venv}: run 'bash bench/setup_goosebit.sh' again."
    return None


def start_goosebit(venv: Path, workdir: Path, port: int) -> subprocess.Popen[bytes]:
    """goosebit on SQLite in ``workdir`` (its own config, database and artifacts), migrated
    with its aerich migrations; device auth off (its default), logging at WARNING."""
    workdir.mkdir(parents=True, exist_ok=True)
    site = next((venv / "lib").glob("python*/site-packages/goosebit"))
    settings = workdir / "goosebit.yaml"
    settings.write_text(textwrap.dedent(f"""\
        db_uri: "sqlite:///{workdir / 'db.sqlite3'}"
        artifacts_dir: "{workdir / 'artifacts'}"
        logging:
          version: 1
          disable_existing_loggers: false
          root: {{level: WARNING}}
    """))
    (workdir / "pyproject.toml").write_text(textwrap.dedent(f"""\
        [tool.aerich]
        tortoise_orm = "goosebit.db.config.TORTOISE_CONF"
        location = "{site / 'db' / 'migrations'}"
        src_folder = "./."
    """))
    env = {"GOOSEBIT_SETTINGS": str(settings)}
    migrated = subprocess.run([str(venv / "bin" / "aerich"), "upgrade"], cwd=workdir,
                              env={**os.environ, **env}, capture_output=True, text=True)
    if migrated.returncode != 0:
        raise RuntimeError(f"goosebit's database migration failed:\n{migrated.stderr}")
    return start_server([str(venv / "bin" / "python"), "-m", "uvicorn", "goosebit:app",
                         "--port", str(port), "--log-level", "warning", "--no-access-log"],
                        port, env=env, cwd=workdir, log=workdir / "server.log")


async def register_goosebit(base_url: str, devices: Sequence[Device]) -> None:
    """Each device's configData (hardware and version), as SWUpdate sends it after its first
    poll: goosebit creates the device on it and marks it registered, so the measured polls
    are a registered device's (not the "send your configData" answer of a new one)."""
    import aiohttp  # the test extra; httpx's pool is far too slow at 50 connections

    async with aiohttp.ClientSession(base_url, connector=aiohttp.TCPConnector(
            limit=CONNECTIONS), timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=30, sock_read=120)) as session:
        # (no total: a request queued behind 49 others for the pool is not late, the
        # registration of 5,000 devices takes about a minute)
        async def one(serial: str, version: str) -> None:
            async with session.put(GOOSEBIT_DDI % serial + "/configData", json={
                    "data": {"hw_boardname": "evt", "sw_version": version}}) as r:
                r.raise_for_status()
        # the first one alone: goosebit creates the hardware row on it, and concurrent
        # first creations of that row collide (a 500)
        await one(*devices[0])
        await asyncio.gather(*(one(s, v) for s, v in devices[1:]))
        async with session.get(GOOSEBIT_DDI % devices[-1][0]) as r:
            check = await r.json()
    if "configData" in check.get("_links", {}):
        raise RuntimeError("goosebit still asks a registered device for its configData")


# --- one run -------------------------------------------------------------------------------

@dataclass
class DdiResult:
    devices: int
    seconds: float
    client: str
    results: dict[str, PollResult]
    stacks: dict[str, str]
    goosebit_skipped: str | None = None
    goosebit_register_s: float = 0.0
    checkins_recorded: int = 0

    def figures(self) -> list[Figure]:
        ours = self.results["ours: DDI base poll"]
        sizes = (f"{self.devices:,} known devices, {self.client}, {self.seconds:g} s each, "
                 f"1 uvicorn worker each")
        out = []
        gb = self.results.get("goosebit: DDI base poll")
        if gb is not None:
            fair = (f"{sizes} (ours {self.stacks['ours']}, goosebit {self.stacks['goosebit']}; "
                    "goosebit without device auth, its default)")
            out += [
                Figure(SECTION, "DDI base poll throughput", ours.rps, "goosebit", gb.rps,
                       "polls/s", fair, higher_is_better=True),
                Figure(SECTION, "DDI base poll p50 latency", ours.p50, "goosebit", gb.p50,
                       "ms", fair),
                Figure(SECTION, "DDI base poll p99 latency", ours.p99, "goosebit", gb.p99,
                       "ms", fair),
            ]
        bare = self.results["bare Starlette (fixed JSON)"]
        out.append(Figure(SECTION, "DDI base poll throughput", ours.rps,
                          "bare Starlette, fixed JSON", bare.rps, "polls/s",
                          f"{sizes} (the framework's ceiling)", higher_is_better=True))
        return out


def measure(devices: int, seconds: float, goosebit: Path | None = GOOSEBIT_VENV,
            latest: bool = False, client: str = "auto",
            log: Callable[[str], None] = print) -> DdiResult:
    """Poll ours, the bare ceiling and (when set up) goosebit with the same client."""
    with tempfile.TemporaryDirectory(prefix="ota-ddi-") as tmp_name:
        tmp = Path(tmp_name)
        db = tmp / "fleet.db"
        fleet = write_fleet(db, devices)
        load = Load(tmp, client=client)
        results: dict[str, PollResult] = {}
        stacks = {"ours": uvicorn_stack(sys.executable)}
        result = DdiResult(len(fleet), seconds, load.describe(), results, stacks)
        warm = min(2.0, seconds)

        port = free_port()
        proc = serve_ours(db, port, log=tmp / "ours.log")
        try:
            base = f"http://127.0.0.1:{port}"
            ddi = Target(base, OURS_DDI, fleet, {"Authorization": f"GatewayToken {PROJECT_KEY}"})
            load.run(ddi, warm)
            results["ours: DDI base poll"] = load.run(ddi, seconds)
            if latest:
                results["ours: Latest Release"] = load.run(
                    Target(base, OURS_LATEST, fleet, {"Memfault-Project-Key": PROJECT_KEY}),
                    seconds)
        finally:
            stop(proc)
        check = Store.open(db)
        result.checkins_recorded = check.db.execute(
            "SELECT count(*) FROM devices WHERE last_seen IS NOT NULL").fetchone()[0]
        check.close()

        port = free_port()
        proc = start_server([sys.executable, "-m", "uvicorn", "bare_app:app", "--port",
                             str(port), "--log-level", "warning", "--no-access-log"],
                            port, cwd=ROOT / "bench")
        try:
            bare = Target(f"http://127.0.0.1:{port}", OURS_DDI, fleet)
            load.run(bare, warm)
            results["bare Starlette (fixed JSON)"] = load.run(bare, seconds)
        finally:
            stop(proc)

        why = goosebit_ready(goosebit) if goosebit is not None else "goosebit: not asked for."
        if why is not None:
            result.goosebit_skipped = why
            return result
        assert goosebit is not None
        stacks["goosebit"] = uvicorn_stack(goosebit / "bin" / "python")
        port = free_port()
        proc = start_goosebit(goosebit, tmp / "goosebit", port)
        try:
            base = f"http://127.0.0.1:{port}"
            log(f"registering {len(fleet):,} devices with goosebit (configData)…")
            started = time.perf_counter()
            asyncio.run(register_goosebit(base, fleet))
            result.goosebit_register_s = time.perf_counter() - started
            target = Target(base, GOOSEBIT_DDI, fleet)
            load.run(target, warm)
            results["goosebit: DDI base poll"] = load.run(target, seconds)
        finally:
            stop(proc)
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int)
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--goosebit", type=Path, default=GOOSEBIT_VENV,
                        help="a venv with goosebit (default: bench/.venv-goosebit)")
    parser.add_argument("--client", choices=("auto", "wrk", "aiohttp"), default="auto",
                        help="the load client (auto: wrk when installed)")
    parser.add_argument("--quick", action="store_true", help="500 devices, 3 s each")
    args = parser.parse_args()
    devices = args.devices or (500 if args.quick else 5_000)
    seconds = args.seconds or (3 if args.quick else 10)
    r = measure(devices, seconds, args.goosebit, latest=True, client=args.client)

    print(f"{r.devices:,} known devices, {r.client}, {r.seconds:g} s each, one uvicorn worker "
          f"each ({', '.join(f'{k} {v}' for k, v in r.stacks.items())})")
    print(f"{'target':32} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}")
    for name, p in r.results.items():
        print(f"{name:32} {p.rps:9.0f} {p.p50:8.2f} {p.p99:8.2f} {p.non2xx:8d}")
    ceiling = r.results["bare Starlette (fixed JSON)"].rps
    for name in ("ours: DDI base poll", "ours: Latest Release"):
        print(f"{name} / bare ceiling: {r.results[name].rps / ceiling:.2f}x")
    if r.goosebit_skipped:
        print(r.goosebit_skipped)
    else:
        gb = r.results["goosebit: DDI base poll"].rps
        print(f"ours: DDI base poll / goosebit: {r.results['ours: DDI base poll'].rps / gb:.1f}x")
        print(f"(goosebit: {r.devices:,} devices registered in {r.goosebit_register_s:.0f} s)")
    print(f"devices whose check-in was recorded during the run: {r.checkins_recorded:,} "
          f"of {r.devices:,}")


if __name__ == "__main__":
    main()
