"""The editing subcommands of ``ota-desktop`` (for scripts and factory stations).

Each one is a single service call, so it is validated, recorded and undoable exactly like the
same edit made in the window.
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ota_desktop.changes import (
    CreateCohort,
    CreateKey,
    CreateRelease,
    DeleteRelease,
    EditRelease,
    MoveDevices,
    NewPayload,
    Resume,
    SetGuard,
    UpdateCohort,
)
from ota_desktop.errors import BadInput
from ota_desktop.model import ReleaseRef, RolloutGuard
from ota_desktop.service import ProjectService
from ota_desktop.store.store import Store

Command = Callable[[argparse.Namespace], int]
AddCommand = Callable[..., argparse.ArgumentParser]


def _ref_arguments(p: argparse.ArgumentParser, delta_ok: bool = True) -> None:
    p.add_argument("--software-type", required=True)
    p.add_argument("--version", help="a Full release")
    if delta_ok:
        p.add_argument("--from", dest="from_version", help="a Delta release's from version")
        p.add_argument("--to", dest="to_version", help="a Delta release's to version")


def _ref(args: argparse.Namespace) -> ReleaseRef:
    old, new = getattr(args, "from_version", None), getattr(args, "to_version", None)
    if args.version is not None and (old or new):
        raise BadInput("Give either --version or --from/--to, not both.")
    if args.version is not None:
        return ReleaseRef(args.software_type, version=args.version)
    if old and new:
        return ReleaseRef(args.software_type, from_version=old, to_version=new)
    raise BadInput("Name the release with --version V, or a Delta with --from A --to B.")


def register(sub: Any, command: AddCommand) -> dict[str, Command]:
    """Add the editing subcommands; returns their handlers by name."""
    release = command("release", "create or delete Full releases", db=False)
    rsub = release.add_subparsers(dest="release_command", metavar="ACTION", required=True)
    p = rsub.add_parser("create", help="create a Full release")
    p.add_argument("--db", required=True, type=Path)
    p.add_argument("--software-type", required=True)
    p.add_argument("--version", required=True)
    p.add_argument("--mpt", action="store_true", help="must-pass-through")
    p.add_argument("--revision", default="")
    p.add_argument("--notes", default="")
    p.add_argument("--json", action="store_true")
    p = rsub.add_parser("delete", help="delete a release whose activations are all pulled")
    p.add_argument("--db", required=True, type=Path)
    _ref_arguments(p)

    delta = command("delta", "create Delta releases", db=False)
    dsub = delta.add_subparsers(dest="delta_command", metavar="ACTION", required=True)
    p = dsub.add_parser("create", help="create a Delta release from one version to another")
    p.add_argument("--db", required=True, type=Path)
    p.add_argument("--software-type", required=True)
    p.add_argument("--from", dest="from_version", required=True)
    p.add_argument("--to", dest="to_version", required=True)
    p.add_argument("--revision", default="")
    p.add_argument("--notes", default="")

    payload = command("payload", "add payload files to releases", db=False)
    psub = payload.add_subparsers(dest="payload_command", metavar="ACTION", required=True)
    p = psub.add_parser("add", help="hash, store and attach a payload file")
    p.add_argument("--db", required=True, type=Path)
    _ref_arguments(p)
    p.add_argument("--hardware-version", required=True)
    p.add_argument("--attribute", action="append", default=[], metavar="K=V")
    p.add_argument("file", type=Path)
    p.add_argument("--json", action="store_true")
    p.add_argument("--sign", action="store_true",
                   help="sign it with the project key (passphrase from stdin)")

    for name, help_text in (("activate", "activate a release in a cohort"),
                            ("deactivate", "pull (abort) a release's activation in a cohort")):
        p = command(name, help_text)
        p.add_argument("--cohort", required=True)
        _ref_arguments(p)
        if name == "activate":
            p.add_argument("--rollout-percent", type=float,
                           help="below 100: a staged rollout of that share of the cohort")
            p.add_argument("--seed", type=int, help="staged draw seed (default: random)")
            _guard_arguments(p)
        p.add_argument("--dry-run", action="store_true",
                       help="print the what-if as JSON and change nothing")

    p = command("guard", "set, change or remove the rollout guard of an activation")
    p.add_argument("--cohort", required=True)
    _ref_arguments(p)
    _guard_arguments(p, prefix="")
    p.add_argument("--off", action="store_true", help="remove the guard")

    p = command("resume", "serve a paused activation again (failures are counted afresh)")
    p.add_argument("--cohort", required=True)
    _ref_arguments(p)

    p = command("rollout", "change a staged rollout's percentage")
    p.add_argument("--cohort", required=True)
    _ref_arguments(p)
    p.add_argument("--rollout-percent", type=float, required=True)
    p.add_argument("--seed", type=int)
    p.add_argument("--dry-run", action="store_true")

    cohort = command("cohort", "create or update cohorts", db=False)
    csub = cohort.add_subparsers(dest="cohort_command", metavar="ACTION", required=True)
    for action in ("create", "update"):
        p = csub.add_parser(action, help=f"{action} a cohort")
        p.add_argument("--db", required=True, type=Path)
        p.add_argument("--slug", required=True)
        p.add_argument("--name")
        vc = p.add_mutually_exclusive_group()
        vc.add_argument("--disable-version-checking", dest="dvc", action="store_true",
                        default=None)
        vc.add_argument("--enable-version-checking", dest="dvc", action="store_false")
        pr = p.add_mutually_exclusive_group()
        pr.add_argument("--protected", dest="protected", action="store_true", default=None)
        pr.add_argument("--unprotected", dest="protected", action="store_false")
        p.add_argument("--polling-interval", type=int, metavar="SECONDS")

    device = command("device", "move devices between cohorts", db=False)
    dvsub = device.add_subparsers(dest="device_command", metavar="ACTION", required=True)
    p = dvsub.add_parser("move", help="move devices (serials, or --from-file) to a cohort")
    p.add_argument("--db", required=True, type=Path)
    p.add_argument("--cohort", required=True)
    p.add_argument("serials", nargs="*")
    p.add_argument("--from-file", type=Path, help="a file of serials (one a line, or CSV)")
    p.add_argument("--json", action="store_true")

    key = command("key", "project keys", db=False)
    ksub = key.add_subparsers(dest="key_command", metavar="ACTION", required=True)
    p = ksub.add_parser("create", help="create a project key (prints it)")
    p.add_argument("--db", required=True, type=Path)
    p.add_argument("--cohort-override")

    user = command("user", "project users and their roles", db=False)
    usub = user.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    p = usub.add_parser("create", help="add a user with a role")
    p.add_argument("--db", required=True, type=Path)
    p.add_argument("--name", required=True)
    p.add_argument("--role", required=True, choices=("reader", "member", "manager"))
    p.add_argument("--password-stdin", action="store_true",
                   help="read a password from standard input, to sign in to a server (Basic)")

    token = command("token", "organization auth tokens", db=False)
    tsub = token.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    p = tsub.add_parser("create", help="create a token (printed once; only a hash is kept)")
    p.add_argument("--db", required=True, type=Path)
    p.add_argument("--name", default="token")
    p.add_argument("--permit-protected", action="store_true",
                   help="may change activations in protected cohorts")
    p = tsub.add_parser("revoke", help="revoke a token by its printed prefix (oat_ + 6)")
    p.add_argument("--db", required=True, type=Path)
    p.add_argument("prefix")

    p = command("history", "list activations chronologically")
    p.add_argument("--json", action="store_true")

    return {"release": _cmd_release, "delta": _cmd_delta, "payload": _cmd_payload,
            "activate": _cmd_activate, "deactivate": _cmd_deactivate, "rollout": _cmd_rollout,
            "cohort": _cmd_cohort, "device": _cmd_device, "key": _cmd_key,
            "history": _cmd_history, "user": _cmd_user, "token": _cmd_token,
            "guard": _cmd_guard, "resume": _cmd_resume}


def _guard_arguments(p: argparse.ArgumentParser, prefix: str = "guard-") -> None:
    p.add_argument(f"--{prefix}failures", dest="guard_failures", type=int, metavar="N",
                   help="rollout guard: pause once N devices of the cohort reported a failure")
    p.add_argument(f"--{prefix}percent", dest="guard_percent", type=float, metavar="P",
                   help="rollout guard: pause once P%% of the devices that reported failed")
    p.add_argument(f"--{prefix}min-reports", dest="guard_min_reports", type=int,
                   metavar="M", help="the percentage counts from M reports on (default 20)")


def _guard(args: argparse.Namespace) -> RolloutGuard | None:
    if args.guard_min_reports is not None and args.guard_percent is None:
        raise BadInput("A minimum number of reports goes with a percentage guard; give the "
                       "percentage too.")
    if args.guard_failures is None and args.guard_percent is None:
        return None
    return RolloutGuard(args.guard_failures, args.guard_percent,
                        20 if args.guard_min_reports is None else args.guard_min_reports)


def _service(path: Path) -> ProjectService:
    from ota_desktop.cli import _open_existing

    return ProjectService(_open_existing(path), actor="cli")


def _edit(path: Path, change: Any) -> None:
    """Every CLI edit is a Change applied like the window's: queued for the server too when
    the project is a linked mirror."""
    from ota_desktop.cli import _open_existing
    from ota_desktop.sync.mirror import apply_local

    apply_local(_open_existing(path), change, actor="cli")


def _cmd_release(args: argparse.Namespace) -> int:
    if args.release_command == "create":
        _edit(args.db, CreateRelease(args.software_type, args.version,
                                     must_pass_through=args.mpt, revision=args.revision,
                                     notes=args.notes))
        print(f"Created Full release {args.version}{' (MPT)' if args.mpt else ''}.")
        return 0
    ref = _ref(args)
    _edit(args.db, DeleteRelease(ref))
    print(f"Deleted {'Delta' if ref.is_delta else 'Full'} release {ref.label}.")
    return 0


def _cmd_delta(args: argparse.Namespace) -> int:
    _edit(args.db, CreateRelease(args.software_type, args.to_version,
                                 from_version=args.from_version, revision=args.revision,
                                 notes=args.notes))
    print(f"Created Delta release {args.from_version}→{args.to_version}.")
    return 0


def _cmd_payload(args: argparse.Namespace) -> int:
    from ota_desktop.artifacts import ArtifactStore, artifact_root
    from ota_desktop.cli import _parse_attributes

    service = _service(args.db)
    ref = _ref(args)
    service._release_id(ref)  # a clear error before hashing a large file
    signer = None
    if args.sign:  # unlock first: a wrong passphrase stops before anything is stored
        signer = service.signing_key(sys.stdin.readline().rstrip("\r\n"))
    attributes = {"hardware_version": args.hardware_version, **_parse_attributes(args.attribute)}
    stored = ArtifactStore(artifact_root(args.db)).add_file(args.file)
    _edit(args.db, EditRelease(ref, payloads=(NewPayload(
        stored.filename, stored.size, stored.sha256, stored.sha1, stored.md5, attributes),)))
    payload_id = service.last_payload_id()
    signature = None
    if signer is not None:
        from ota_desktop import signing

        signature = signing.sign(signer, stored.sha256)
        with service.operation("payload.sign", "payloads") as op:
            service.db.execute("UPDATE payloads SET signature = ? WHERE id = ?",
                               [signature, payload_id])
            op.after = {"signed": [payload_id]}
    info = {"id": payload_id, "filename": stored.filename, "size": stored.size,
            "sha256": stored.sha256, "sha1": stored.sha1, "md5": stored.md5,
            "attributes": attributes, "signature": signature}
    print(json.dumps(info, indent=2) if args.json
          else f"Added {stored.filename} ({stored.size:,} bytes, sha256 {stored.sha256}).")
    return 0


def _run_change(args: argparse.Namespace, change: Any) -> int:
    from ota_desktop.whatif import Pull, preview

    store = _service(args.db).store
    ref = getattr(change, "ref", None)
    found = store.configuration().find_release(ref) if ref is not None else None
    if found is not None and not found.payloads and not isinstance(change, Pull):
        print(f"ota-desktop: note: {found.label} has no payload yet, so no device can get it "
              "until one is added (payload add).", file=sys.stderr)
    if args.dry_run:
        result = preview(store, change).to_json()
        seed = getattr(change, "seed", None)
        if seed is not None:  # the same draw happens only with the same seed
            result["seed"] = seed
            print(f"ota-desktop: this preview drew with --seed {seed}; pass it to apply "
                  "exactly this draw.", file=sys.stderr)
        print(json.dumps(result, indent=2))
        return 0
    _edit(args.db, change)
    print(change.describe() + ": done.")
    return 0


def _cmd_activate(args: argparse.Namespace) -> int:
    from ota_desktop.whatif import Activate, new_seed

    percent = args.rollout_percent
    if percent is not None and not 0 < percent <= 100:
        raise BadInput("--rollout-percent is above 0 and at most 100.")
    staged = percent is not None and percent < 100
    change = Activate(_ref(args), args.cohort, kind="staged" if staged else "normal",
                      rollout_percent=percent if staged else None,
                      seed=args.seed if args.seed is not None else new_seed(),
                      guard=_guard(args))
    return _run_change(args, change)


def _cmd_guard(args: argparse.Namespace) -> int:
    guard = _guard(args)
    if args.off == (guard is not None):
        raise BadInput("Give --failures N and/or --percent P, or --off to remove the guard.")
    change = SetGuard(_ref(args), args.cohort, guard)
    _edit(args.db, change)
    print(change.describe() + ": done.")
    return 0


def _cmd_resume(args: argparse.Namespace) -> int:
    change = Resume(_ref(args), args.cohort)
    _edit(args.db, change)
    print(change.describe() + ": done; failures are counted afresh from now.")
    return 0


def _cmd_deactivate(args: argparse.Namespace) -> int:
    from ota_desktop.whatif import Pull

    return _run_change(args, Pull(_ref(args), args.cohort))


def _cmd_rollout(args: argparse.Namespace) -> int:
    from ota_desktop.whatif import SetRollout, new_seed

    return _run_change(args, SetRollout(_ref(args), args.cohort, args.rollout_percent,
                                        seed=args.seed if args.seed is not None else new_seed()))


def _cmd_cohort(args: argparse.Namespace) -> int:
    if args.cohort_command == "create":
        _edit(args.db, CreateCohort(args.slug, args.name or "",
                                    disable_version_checking=bool(args.dvc),
                                    protected=True if args.protected is None else args.protected,
                                    polling_interval_s=3600 if args.polling_interval is None
                                    else args.polling_interval))
        print(f"Created cohort {args.slug}.")
        return 0
    _edit(args.db, UpdateCohort(args.slug, name=args.name, disable_version_checking=args.dvc,
                                protected=args.protected,
                                polling_interval_s=args.polling_interval))
    print(f"Updated cohort {args.slug}.")
    return 0


def read_serials(text: str) -> list[str]:
    """Serials from pasted text or a CSV/TSV: one a line, first column (split on , ; or tab),
    quotes and surrounding spaces removed, a 'serial' header skipped."""
    serials = []
    for line in text.splitlines():
        first = re.split(r"[,;\t]", line, maxsplit=1)[0].strip().strip('"').strip()
        if first and first.lower() not in ("serial", "device_serial"):
            serials.append(first)
    return serials


def read_text_file(path: Path) -> str:
    """A pasted list from a file: UTF-8 (with or without BOM) or UTF-16 with a BOM."""
    data = path.read_bytes()
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16")
    return data.decode("utf-8-sig", errors="replace")


def _cmd_device(args: argparse.Namespace) -> int:
    serials = list(args.serials)
    if args.from_file is not None:
        serials += read_serials(read_text_file(args.from_file))
    if not serials:
        raise BadInput("Name the devices to move: serials, or --from-file FILE.")
    result = _service(args.db).plan_move(serials, args.cohort)
    _edit(args.db, MoveDevices(tuple(serials), args.cohort))
    if args.json:
        print(json.dumps({"moved": result.moved, "already": result.already,
                          "unknown": list(result.unknown)}))
    else:
        print(f"Moved {result.moved:,} device(s) to {args.cohort}; {result.already:,} were "
              f"already there; {len(result.unknown):,} unknown serial(s)"
              + (f": {', '.join(result.unknown[:10])}" if result.unknown else "") + ".")
    return 0


def _cmd_key(args: argparse.Namespace) -> int:
    key = secrets.token_hex(16)
    _edit(args.db, CreateKey(key, args.cohort_override))
    print(key)
    return 0


def _cmd_user(args: argparse.Namespace) -> int:
    password = None
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise BadInput("--password-stdin read an empty password.")
    _service(args.db).create_user(args.name, args.role, password)
    print(f"Created user {args.name} ({args.role}"
          f"{', can sign in with a password' if password else ''}).")
    return 0


def _cmd_token(args: argparse.Namespace) -> int:
    service = _service(args.db)
    if args.token_command == "create":
        token = service.create_token(args.name, permit_protected=args.permit_protected)
        print(token)
        print("Keep it now: it is not shown again (only its hash is stored).", file=sys.stderr)
        return 0
    service.revoke_token(args.prefix)
    print(f"Revoked token {args.prefix}.")
    return 0


def _cmd_history(args: argparse.Namespace) -> int:
    from ota_desktop.cli import _open_existing

    store: Store = _open_existing(args.db)
    rows = store.activation_history()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        percent = f" {r['rollout_percent']:g}%" if r["rollout_percent"] is not None else ""
        status = "paused" if r["paused"] and r["status"] == "active" else r["status"]
        guard = r["guard"]
        extra = ""
        if guard is not None and r["status"] == "active":
            extra = (f"  guard: {RolloutGuard(**guard).describe()}; {r['failures']} of "
                     f"{r['reports']} reporting failed")
        if r["paused"] and r["status"] == "active":
            extra += f"\n    {r['paused_reason']} (at {r['paused_at']})"
        sys.stdout.write(f"{r['created_at']}  {r['software_type']} {r['release']:<12} "
                         f"{r['cohort']:<10} {r['kind']}{percent:<6} {status:<7} "
                         f"{r['activated_by'] or '(token)'}{extra}\n")
    return 0
