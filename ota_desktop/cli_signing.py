"""``ota-desktop signing-key …``, ``sign`` and ``verify``: the project signing key and payload
signatures from the command line. Passphrases are read from standard input, never argv."""

from __future__ import annotations

import argparse
import getpass
import hashlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ota_desktop.errors import BadInput, OtaError


def register(sub: Any, command: Callable[..., argparse.ArgumentParser]
             ) -> dict[str, Callable[[argparse.Namespace], int]]:
    key = command("signing-key", "the project's payload signing key", db=False)
    ksub = key.add_subparsers(dest="key_command", metavar="ACTION", required=True)
    p = ksub.add_parser("create", help="generate a key; its passphrase is read from stdin")
    p.add_argument("--db", required=True, type=Path)
    p.add_argument("--algorithm", choices=("ed25519", "ecdsa-p256"), default="ed25519")
    p = ksub.add_parser("import", help="import a PEM private key; stdin: the passphrase to "
                                       "keep it under, then (if the file is encrypted) its own")
    p.add_argument("--db", required=True, type=Path)
    p.add_argument("file", type=Path)
    p = ksub.add_parser("show", help="print the public key (PEM)")
    p.add_argument("--db", required=True, type=Path)
    command("sign", "sign every payload not signed yet (passphrase from stdin)")
    p = command("verify", "check a file's signature (exit 0 valid, 1 not)", db=False)
    p.add_argument("file", type=Path)
    p.add_argument("--db", type=Path, help="the project whose payload and key to check against")
    p.add_argument("--public-key", type=Path, help="a PEM public key (instead of --db)")
    p.add_argument("--signature", help="the signature (base64) or a .sig file (with "
                                       "--public-key)")
    return {"signing-key": _cmd_key, "sign": _cmd_sign, "verify": _cmd_verify}


def _line(what: str) -> str:
    """A passphrase from stdin: piped, or typed at a terminal without echo."""
    if sys.stdin.isatty():
        value = getpass.getpass(f"{what[0].upper()}{what[1:]}: ")
    else:
        value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        raise BadInput(f"Standard input held no {what}.")
    return value


def _cmd_key(args: argparse.Namespace) -> int:
    from ota_desktop.cli_edits import _service
    from ota_desktop.service.signing import public_key

    service = _service(args.db)
    if args.key_command == "show":
        found = public_key(service.store)
        if found is None:
            raise BadInput("This project has no signing key yet (signing-key create).")
        print(found[1], end="")
        return 0
    if args.key_command == "create":
        pem = service.create_signing_key(_line("passphrase"), args.algorithm)
    else:
        keep = _line("passphrase")
        data = args.file.read_bytes()
        current = _line("passphrase of the key file") if b"ENCRYPTED" in data else None
        pem = service.import_signing_key(data, keep, current)
    print(pem, end="")
    print("The private key is stored encrypted with your passphrase; keep the passphrase.",
          file=sys.stderr)
    return 0


def _cmd_sign(args: argparse.Namespace) -> int:
    from ota_desktop.cli_edits import _service

    count = _service(args.db).sign_payloads(_line("passphrase"))
    print(f"Signed {count} payload(s).")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from ota_desktop import signing

    digest = hashlib.sha256()
    with args.file.open("rb") as source:
        while chunk := source.read(1024 * 1024):
            digest.update(chunk)
    sha = digest.hexdigest()
    if args.db is not None:
        from ota_desktop.cli import _open_existing
        from ota_desktop.service.signing import public_key

        store = _open_existing(args.db)
        found = public_key(store)
        if found is None:
            raise BadInput("This project has no signing key.")
        row = store.db.execute("SELECT signature FROM payloads WHERE sha256 = ? AND "
                               "signature IS NOT NULL", [sha]).fetchone()
        if row is None:
            raise OtaError(f"No signed payload of this project has this file's sha256 ({sha}).")
        public, signature = signing.load_public(found[1]), str(row[0])
    else:
        if args.public_key is None or args.signature is None:
            raise BadInput("Give --db, or --public-key and --signature.")
        public = signing.load_public(args.public_key.read_bytes())
        given = Path(args.signature)
        signature = given.read_text().strip() if given.is_file() else args.signature
    if not signing.verify(public, sha, signature):
        print(f"{args.file}: the signature does NOT verify (sha256 {sha}).", file=sys.stderr)
        return 1
    print(f"{args.file}: signature OK ({signing.algorithm_of(public)}, sha256 {sha}).")
    return 0
