"""``ota-desktop sync …``: link a project file to a server and sync it from the command line
(the window's Sync menu does the same through the same core)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ota_desktop.errors import BadInput


def register(sub: Any, command: Callable[..., argparse.ArgumentParser]
             ) -> dict[str, Callable[[argparse.Namespace], int]]:
    sync = command("sync", "sync this project with a server (push edits, pull changes)",
                   db=False)
    ssub = sync.add_subparsers(dest="sync_command", metavar="ACTION", required=True)
    p = ssub.add_parser("connect", help="link the project file to a server")
    p.add_argument("--db", required=True, type=Path)
    p.add_argument("--url", required=True, help="the server, e.g. http://127.0.0.1:8000")
    p.add_argument("--org", default="local")
    p.add_argument("--project", default="local")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--token-stdin", action="store_true",
                     help="read an organization auth token (oat_…) from standard input")
    who.add_argument("--user", help="sign in as this user; the password is read from stdin")
    p.add_argument("--no-check", action="store_true",
                   help="link without asking the server first (e.g. while offline)")
    for name, help in (("run", "push queued edits, then pull changes and the fleet"),
                       ("status", "show the link, queued edits and conflicts"),
                       ("disconnect", "stop syncing (edits go on being queued)")):
        p = ssub.add_parser(name, help=help)
        p.add_argument("--db", required=True, type=Path)
        p.add_argument("--json", action="store_true")
        if name == "status":
            p.add_argument("--all", action="store_true",
                           help="also list edits already sent and edits discarded")
    p = ssub.add_parser("resolve", help="answer a conflict: keep mine (send again) or theirs; "
                                         "--keep theirs also discards a pending edit")
    p.add_argument("--db", required=True, type=Path)
    p.add_argument("item", type=int, help="the queued edit's number (see sync status)")
    p.add_argument("--keep", required=True, choices=("mine", "theirs"))
    return {"sync": _cmd_sync}


def _cmd_sync(args: argparse.Namespace) -> int:
    from ota_desktop.errors import NotAProjectFile
    from ota_desktop.store.store import Store
    from ota_desktop.sync import mirror

    if args.sync_command == "connect":  # a new file becomes an empty mirror
        secret = sys.stdin.readline().strip()
        if not secret:
            raise BadInput("Standard input held no token or password.")
        credential = secret if args.token_stdin else f"{args.user}:{secret}"
        url = mirror.check_url(args.url)
        checked = "" if args.no_check else _check_credentials(url, args.org, args.project,
                                                               credential)
        store = Store.open(args.db)  # only now: a refused connect leaves no file behind
        link = mirror.connect(store, url, args.org, args.project, credential)
        if checked:
            print(checked)
        print(f"Linked {args.db} to {link.url} (client {link.client[:8]}); run "
              f"'ota-desktop sync run --db {args.db}' to pull the server's project.")
        return 0
    if not args.db.exists():
        raise NotAProjectFile(f"There is no project file at {args.db}.")
    store = Store.open(args.db)  # a new mirror holds no project until its first sync
    if args.sync_command == "disconnect":
        mirror.disconnect(store)
        print("Unlinked; queued edits are kept and go up if you link it again.")
        return 0
    if args.sync_command == "resolve":
        mirror.resolve(store, args.item, args.keep)
        print(f"Edit {args.item}: " + ("queued again over the server's version."
                                      if args.keep == "mine" else "discarded; the server's "
                                      "version stays."))
        return 0
    if args.sync_command == "status":
        return _status(store, args.json, args.all)
    store.close()
    return _run(args.db, args.json)


def _check_credentials(url: str, org: str, project: str, credential: str) -> str:
    """Ask the server who these credentials are; refuse to link with ones it refuses."""
    import httpx

    from ota_desktop.errors import OtaError
    from ota_desktop.sync.client import PREFIX, auth_header

    try:
        r = httpx.get(url + PREFIX.format(org=org, project=project) + "/sync/whoami",
                      headers={"Authorization": auth_header(credential)}, timeout=15)
    except httpx.HTTPError as exc:
        if "SSL" in str(exc):
            raise OtaError(f"The secure connection to {url} failed ({exc}); if the server does "
                           "not use TLS, its address starts with http://. Nothing was linked."
                           ) from exc
        return f"Could not reach {url} ({exc}); linking anyway — edits queue until it answers."
    if r.status_code == 401:
        raise OtaError("The server refused these credentials — check the token, or the user "
                       "name and password. Nothing was linked.")
    try:
        who = r.json()
    except ValueError:
        who = None
    if r.status_code != 200 or not isinstance(who, dict) or "role" not in who:
        raise OtaError(f"{url} answered {r.status_code} but not as an OTA Desktop server; "
                       "check the address. Nothing was linked.")
    kind = "a token" if who.get("is_token") else f"{who.get('name')} ({who.get('role')})"
    return f"The server accepts these credentials: signed in as {kind}."


def _status(store: Any, as_json: bool, everything: bool = False) -> int:
    from ota_desktop.sync import mirror

    state = mirror.status(store)
    items = mirror.outbox(store, ("pending", "conflict", "refused", "pushed", "discarded")
                          if everything else ("pending", "conflict", "refused"))
    if as_json:
        print(json.dumps({"status": state.label, "pending": state.pending,
                          "conflicts": state.conflicts, "last_sync_at": state.last_sync_at,
                          "last_error": state.last_error,
                          "queued": [{"item": i.id, "state": i.state,
                                      "description": i.description, "detail": i.detail}
                                     for i in items]}, indent=2))
        return 0
    print(state.label + (f" (last error: {state.last_error})" if state.last_error else ""))
    for i in items:
        print(f"  {i.id:>5}  {i.state:<9} {i.description}")
        if i.detail and i.state != "pending":
            print(f"         {_explain(i.detail)}")
    return 0


def _explain(detail: dict[str, Any]) -> str:
    if "reason" in detail:
        return str(detail["reason"])
    if "message" in detail:
        return str(detail["message"])
    server = detail.get("server", {}).get("changes", [])
    who = ", ".join(f"{c['kind']} by {c['actor'] or 'a token'} at {c['at']}" for c in server)
    return f"changed on the server since: {who}"


def _run(path: Path, as_json: bool) -> int:
    from ota_desktop.sync.client import SyncClient

    client = SyncClient(path)

    def progress(what: str, done: int, total: int) -> None:
        if not as_json and sys.stderr.isatty():
            print(f"\r{what}: {done:,}" + (f" of {total:,}" if total else ""), end="",
                  file=sys.stderr)

    try:
        report = asyncio.run(client.sync(progress))
    finally:
        client.close()
    from ota_desktop.store.store import Store
    from ota_desktop.sync import mirror

    waiting = mirror.status(Store.open(path)).conflicts  # this sync's and earlier ones
    if as_json:
        print(json.dumps({**report.__dict__, "waiting_for_decision": waiting}))
    else:
        print(f"Sent {report.pushed} edit(s); read {report.feed} server change(s)"
              f"{', refreshed the configuration' if report.refreshed else ''}; "
              f"{report.devices:,} device update(s)."
              + (f" {waiting} edit(s) need your decision (sync status)." if waiting else ""))
    return 3 if waiting else 0
