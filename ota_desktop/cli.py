"""The ``ota-desktop`` command line (SPEC §10). With no arguments it opens the window."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ota_desktop import __version__
from ota_desktop.errors import BadInput, InvalidVersion, NotAProjectFile, OtaError
from ota_desktop.store.store import Store
from ota_desktop.versions import SCHEME_NAMES, get_scheme, sorted_versions


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ota-desktop",
        description="Release manager for over-the-air firmware updates. "
                    "Run without arguments to open the window.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--self-test", action="store_true",
                        help="open the window on a small demo (offscreen without a display), "
                             "check the matrix, a font and the device server, then exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, help: str, db: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        if db:
            p.add_argument("--db", required=True, type=Path, help="the project file (SQLite)")
        return p

    p = command("gui", "open the window (on --db, else the last project)", db=False)
    p.add_argument("--db", type=Path)

    p = command("demo", "write the built-in demo project")
    p.add_argument("--force", action="store_true", help="replace an existing file")
    p.add_argument("--scale", type=float, default=1.0,
                   help="a fraction of the fleet (0.001: 981 devices) for quick trials")

    p = command("import", "replace the project with a snapshot JSON file")
    p.add_argument("file", type=Path)

    p = command("export", "write the project as snapshot JSON")
    p.add_argument("file", type=Path)

    p = command("resolve", "show the decision a device gets, with its trace")
    p.add_argument("--device-serial", required=True)
    p.add_argument("--software-type")
    p.add_argument("--current-version")
    p.add_argument("--hardware-version")
    p.add_argument("--attribute", action="append", default=[], metavar="K=V")
    p.add_argument("--project-key")
    p.add_argument("--json", action="store_true")

    p = command("matrix", "print the version matrix of a cohort")
    p.add_argument("--cohort", required=True)
    p.add_argument("--software-type", required=True)
    p.add_argument("--json", action="store_true")

    p = command("serve", "serve the device-facing API (Latest Release, hawkBit DDI, artifacts)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--sign", action="store_true",
                   help="unlock the signing key (passphrase from stdin): payloads uploaded or "
                        "pushed to this server are signed as they arrive")

    p = command("versions", "sort versions by a scheme", db=False)
    p.add_argument("--scheme", choices=SCHEME_NAMES, default="natural")
    p.add_argument("--allow-build-metadata", action="store_true")
    p.add_argument("versions", nargs="+", metavar="V")

    from ota_desktop.cli_edits import register

    _COMMANDS.update(register(sub, command))
    from ota_desktop.cli_sync import register as register_sync

    _COMMANDS.update(register_sync(sub, command))
    from ota_desktop.cli_signing import register as register_signing

    _COMMANDS.update(register_signing(sub, command))
    from ota_desktop.cli_bundle import register as register_bundle

    _COMMANDS.update(register_bundle(sub, command))
    from ota_desktop.cli_simulate import register as register_simulate

    _COMMANDS.update(register_simulate(sub, command))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    for arg in args_list:
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            print(f"ota-desktop: the argument {arg.encode('utf-8', 'replace').decode()!r} is "
                  "not valid UTF-8 text.", file=sys.stderr)
            return 2
    if not args_list:
        return _gui(None)
    args = build_parser().parse_args(args_list)
    if args.self_test:
        from ota_desktop.gui.self_test import run

        return run()
    if args.command is None:
        return _gui(None)
    try:
        return int(_COMMANDS[args.command](args))
    except BadInput as exc:
        print(f"ota-desktop: {exc}", file=sys.stderr)
        return 2
    except OtaError as exc:
        print(f"ota-desktop: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `ota-desktop history | head`: the reader had enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        print(f"ota-desktop: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "),
              file=sys.stderr)
        return 1


def _open_existing(path: Path) -> Store:
    if not path.exists():
        raise NotAProjectFile(f"There is no project file at {path}; create one with "
                         f"'ota-desktop demo --db {path}' or 'ota-desktop import'.")
    store = Store.open(path)
    store.project()  # a clear error when the file holds no project
    return store


def _gui(db: Path | None) -> int:
    from ota_desktop.gui.app import run

    return run(db)


def _cmd_gui(args: argparse.Namespace) -> int:
    return _gui(args.db)


def _cmd_demo(args: argparse.Namespace) -> int:
    from ota_desktop.demo import write_demo

    path: Path = args.db
    if not 0 < args.scale <= 1:
        raise BadInput("--scale is a fraction above 0 and at most 1.")
    if path.exists():
        if not args.force:
            raise BadInput(f"{path} already exists; pass --force to replace it.")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    started = time.perf_counter()
    store = Store.open(path)
    write_demo(store, scale=args.scale)
    print(f"Wrote the demo project to {path} ({store.device_count():,} devices, "
          f"{time.perf_counter() - started:.1f} s).")
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    from ota_desktop.snapshot import import_snapshot, load

    snapshot = load(args.file)  # validated whole before the database is touched
    store = Store.open(args.db)
    import_snapshot(store, snapshot)
    print(f"Imported {args.file} into {args.db} ({store.device_count():,} devices).")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from ota_desktop.snapshot import export_snapshot

    store = _open_existing(args.db)
    if args.file.is_dir():
        raise BadInput(f"{args.file} is a folder; name the snapshot file to write.")
    if not args.file.parent.is_dir():
        raise BadInput(f"The folder {args.file.parent} does not exist.")
    tmp = args.file.with_name(args.file.name + ".part")
    try:
        with open(tmp, "w", encoding="utf-8") as out:
            count = export_snapshot(store, out)
        tmp.replace(args.file)
    finally:
        tmp.unlink(missing_ok=True)
    print(f"Exported {args.db} to {args.file} ({count:,} devices).")
    return 0


def _parse_attributes(pairs: Sequence[str]) -> dict[str, str]:
    attributes = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise BadInput(f"--attribute takes KEY=VALUE, not {pair!r}.")
        attributes[key] = value
    return attributes


def _cmd_resolve(args: argparse.Namespace) -> int:
    from ota_desktop.queries import decide_for_device

    store = _open_existing(args.db)
    attributes = _parse_attributes(args.attribute)
    if args.hardware_version is not None:
        attributes["hardware_version"] = args.hardware_version
    config = store.configuration()
    if args.software_type and args.software_type not in config.software_types:
        raise BadInput(f"There is no software type {args.software_type!r} in this project.")
    if args.project_key and config.project_key(args.project_key) is None:
        raise BadInput("That project key is not known to this project.")
    decision = decide_for_device(
        store, args.device_serial, software_type=args.software_type,
        current_version=args.current_version, attributes=attributes,
        project_key=args.project_key, config=config,
    )
    if args.json:
        print(json.dumps(decision.to_json(), indent=2))
        return 0
    print(decision.reason)
    print(f"  effective cohort: {decision.effective_cohort}"
          f"{' (staged)' if decision.staged else ''}")
    if decision.payload is not None:
        print(f"  payload: {decision.payload.filename} ({decision.payload.size:,} bytes)")
    print("Trace:")
    for entry in decision.trace:
        print(f"  {entry}")
    return 0


def _cmd_matrix(args: argparse.Namespace) -> int:
    from ota_desktop.queries import matrix_for

    store = _open_existing(args.db)
    config = store.configuration()
    if args.software_type not in config.software_types:
        raise BadInput(f"There is no software type {args.software_type!r} in this project.")
    matrix = matrix_for(store, args.cohort, args.software_type, config)
    if args.json:
        print(json.dumps(matrix.to_json(), indent=2))
        return 0
    print(_matrix_text(matrix.to_json()))
    return 0


def _matrix_text(data: dict[str, Any]) -> str:
    columns = sorted({c for r in data["rows"] for c in r["next"]},
                     key=lambda c: [x["version"] for x in data["rows"]].index(c)
                     if c in [x["version"] for x in data["rows"]] else 10**6)
    lines = [f"cohort {data['cohort']}, software type {data['software_type']}",
             "current → next: " + ", ".join(columns)]
    for row in data["rows"]:
        flag = "" if row["valid"] else "  (unparseable version)"
        moves = ", ".join(f"{'stays' if v == row['version'] else '→ ' + v}: {n:,}"
                          for v, n in row["next"].items())
        lines.append(f"  {row['version']:>10}  {row['total']:>10,}  {moves}{flag}")
    lines.append("final targets: " + ", ".join(data["final_targets"]))
    for paused in data.get("paused", []):
        name = f"Delta {paused['release']}" if paused["is_delta"] else f"Full {paused['release']}"
        lines.append(f"PAUSED {name}: {paused['reason']} (ota-desktop resume … to serve it "
                     "again)")
    return "\n".join(lines)


def _cmd_serve(args: argparse.Namespace) -> int:
    from ota_desktop.server.app import serve

    store = _open_existing(args.db)
    if not 0 < args.port < 65536:
        raise BadInput("--port is between 1 and 65535.")
    signer = None
    if args.sign:
        from ota_desktop.service import ProjectService

        passphrase = sys.stdin.readline().rstrip("\r\n")
        signer = ProjectService(store).signing_key(passphrase)
    store.close()
    print(f"Serving {args.db} on http://{args.host}:{args.port}/ (Ctrl+C stops)"
          + ("; signing new payloads." if signer is not None else "."), flush=True)
    serve(args.db, args.host, args.port, signer)
    return 0


def _cmd_versions(args: argparse.Namespace) -> int:
    scheme = get_scheme(args.scheme, args.allow_build_metadata)
    try:
        ordered = sorted_versions(scheme, args.versions)
    except InvalidVersion as exc:
        raise BadInput(str(exc)) from exc
    print("\n".join(ordered))
    return 0


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "gui": _cmd_gui, "demo": _cmd_demo, "import": _cmd_import, "export": _cmd_export,
    "resolve": _cmd_resolve, "matrix": _cmd_matrix, "versions": _cmd_versions,
    "serve": _cmd_serve,
}


if __name__ == "__main__":
    raise SystemExit(main())
