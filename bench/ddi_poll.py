"""Device-poll benchmark: our hawkBit base poll and Latest Release endpoint against the
framework's ceiling (a bare Starlette app returning fixed JSON), and optionally goosebit.

    python bench/ddi_poll.py [--devices 10000] [--seconds 10] [--goosebit PATH-TO-ITS-VENV]

Same load client for every target (wrk from Debian: 50 connections, 2 threads, random device
ids), same run, one uvicorn worker each; prints requests/s, p50/p99 and the ratios. Every poll
of ours still records its check-in (batched by the writer thread).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ota_desktop.demo import DEMO_DEVICE_COUNT, write_demo  # noqa: E402
from ota_desktop.store import Store  # noqa: E402

KEY = "demo-project-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"nothing listens on port {port}")


def lua_script(folder: Path, devices: list[tuple[str, str]], path_format: str,
               headers: dict[str, str]) -> Path:
    """wrk picks a random registered device for every request; the path gets its serial and
    the version it really runs (as a device would report it)."""
    ids = ",".join(f'{{"{s}","{v}"}}' for s, v in devices)
    header_lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())
    script = folder / f"load-{abs(hash(path_format))}.lua"
    script.write_text(textwrap.dedent(f"""
        local ids = {{{ids}}}
        {header_lines}
        math.randomseed(os.time())
        request = function()
          local d = ids[math.random(#ids)]
          return wrk.format("GET", string.format("{path_format}", d[1], d[2]))
        end
    """))
    return script


def run_wrk(url: str, script: Path, seconds: int) -> dict[str, float]:
    out = subprocess.run(["wrk", "-t2", "-c50", f"-d{seconds}s", "--latency", "-s", str(script),
                          url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def percentile(p: str) -> float:
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if m is None:
            return float("nan")
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": percentile("50"), "p99": percentile("99"),
            "non2xx": float(errors.group(1)) if errors else 0.0}


def start(cmd: list[str], port: int, env: dict[str, str] | None = None,
          cwd: Path | None = None) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, **(env or {})}, cwd=cwd)
    wait_port(port)
    return proc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--goosebit", type=Path,
                        help="a venv with goosebit installed (pip install goosebit)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        db = tmp / "bench.db"
        store = Store.open(db)
        write_demo(store, scale=args.devices / DEMO_DEVICE_COUNT)
        devices = [(r[0], r[1]) for r in store.db.execute(
            "SELECT serial, current_version FROM devices")]
        serials = [s for s, _ in devices]
        store.close()
        results: dict[str, dict[str, float]] = {}
        procs: list[subprocess.Popen[bytes]] = []
        try:
            port = free_port()
            procs.append(start([sys.executable, "-m", "ota_desktop", "serve", "--db", str(db),
                                "--port", str(port)], port, cwd=ROOT))
            ddi = lua_script(tmp, devices, "/api/v0/hawkbit/default/controller/v1/%s",
                             {"Authorization": f"GatewayToken {KEY}"})
            latest = lua_script(tmp, devices, "/api/v0/releases/latest?&device_serial=%s"
                                "&hardware_version=evt&software_type=main&current_version=%s",
                                {"Memfault-Project-Key": KEY})
            base = f"http://127.0.0.1:{port}"
            run_wrk(base, ddi, 2)  # warm up
            results["ours: DDI base poll"] = run_wrk(base, ddi, args.seconds)
            results["ours: Latest Release"] = run_wrk(base, latest, args.seconds)
            check = Store.open(db)
            seen = check.db.execute("SELECT count(*) FROM devices WHERE last_seen IS NOT NULL"
                                    ).fetchone()[0]
            check.close()

            bare_port = free_port()
            procs.append(start([sys.executable, "-m", "uvicorn", "bare_app:app", "--port",
                                str(bare_port), "--log-level", "warning", "--no-access-log"],
                               bare_port, cwd=ROOT / "bench"))
            bare = f"http://127.0.0.1:{bare_port}"
            run_wrk(bare, ddi, 2)
            results["bare Starlette (fixed JSON)"] = run_wrk(bare, ddi, args.seconds)

            if args.goosebit is not None:
                results["goosebit: DDI base poll"] = bench_goosebit(args, tmp, serials)
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(timeout=10)

    print(f"{args.devices:,} registered devices, wrk -t2 -c50, {args.seconds} s each, "
          "one uvicorn worker")
    print(f"{'target':32} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}")
    for name, r in results.items():
        print(f"{name:32} {r['rps']:9.0f} {r['p50']:8.2f} {r['p99']:8.2f} {r['non2xx']:8.0f}")
    ceiling = results["bare Starlette (fixed JSON)"]["rps"]
    for name in ("ours: DDI base poll", "ours: Latest Release"):
        print(f"{name} / bare ceiling: {results[name]['rps'] / ceiling:.2f}x")
    if "goosebit: DDI base poll" in results:
        gb = results["goosebit: DDI base poll"]["rps"]
        print(f"ours: DDI base poll / goosebit: {results['ours: DDI base poll']['rps'] / gb:.1f}x")
    print(f"devices whose check-in was recorded during the run: {seen:,} of {len(serials):,}")


def bench_goosebit(args: argparse.Namespace, tmp: Path, serials: list[str]) -> dict[str, float]:
    """goosebit on SQLite on another loopback port; its devices registered by a first poll."""
    venv = args.goosebit
    port = free_port()
    workdir = tmp / "goosebit"
    workdir.mkdir()
    site = next((venv / "lib").glob("python*/site-packages/goosebit"))
    (workdir / "pyproject.toml").write_text(textwrap.dedent(f"""
        [tool.aerich]
        tortoise_orm = "goosebit.db.config.TORTOISE_CONF"
        location = "{site / 'db' / 'migrations'}"
        src_folder = "./."
    """))
    env = {"GOOSEBIT_DB_URI": f"sqlite:///{workdir}/db.sqlite3",
           "GOOSEBIT_ARTIFACTS_DIR": str(workdir / "artifacts")}
    subprocess.run([str(venv / "bin" / "aerich"), "upgrade"], cwd=workdir, check=True,
                   env={**os.environ, **env}, capture_output=True)
    proc = start([str(venv / "bin" / "python"), "-m", "uvicorn", "goosebit:app", "--port",
                  str(port), "--log-level", "warning", "--no-access-log"], port, env=env,
                 cwd=workdir)
    try:
        import asyncio

        import httpx

        path = "/DEFAULT/controller/v1/%s"

        async def register() -> None:
            limit = asyncio.Semaphore(50)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}",
                                         timeout=60) as c:
                async def one(serial: str) -> None:
                    async with limit:
                        await c.get(path % serial)
                await asyncio.gather(*(one(s) for s in serials))

        started = time.monotonic()
        asyncio.run(register())
        print(f"(goosebit: {len(serials):,} devices registered in "
              f"{time.monotonic() - started:.0f} s)")
        script = lua_script(tmp, [(s, "") for s in serials], path, {})
        run_wrk(f"http://127.0.0.1:{port}", script, 2)
        return run_wrk(f"http://127.0.0.1:{port}", script, args.seconds)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
