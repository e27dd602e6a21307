"""Who may do what: project roles (reader, member, manager) and organization auth tokens.

Pure rules; the service asks them before every mutation. Tokens are random (``oat_`` + 32
bytes), shown once, and stored only as a SHA-256 hash (a slow hash buys nothing for a secret
with 256 bits of entropy).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Literal

Role = Literal["reader", "member", "manager"]
ROLES: tuple[Role, ...] = ("reader", "member", "manager")
TOKEN_PREFIX = "oat_"


@dataclass(frozen=True)
class Principal:
    """The one acting: a user with a role, or an organization auth token."""

    name: str
    role: Role = "manager"
    is_token: bool = False
    permit_protected: bool = False

    @property
    def activated_by(self) -> str:
        """What an activation records as its author: empty for a token."""
        return "" if self.is_token else self.name


LOCAL = Principal("local")  # the desktop's owner, working on a local mirror


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def hash_password(password: str, salt: bytes | None = None) -> str:
    """scrypt (a memory-hard hash: passwords, unlike tokens, are guessable)."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str | None) -> bool:
    if not stored or stored.count("$") != 2:
        return False
    _, salt, _ = stored.split("$")
    try:
        return secrets.compare_digest(hash_password(password, bytes.fromhex(salt)), stored)
    except (ValueError, UnicodeEncodeError):
        return False


def may_edit(principal: Principal) -> bool:
    """Releases, payloads, cohorts, devices, keys: members and managers (and tokens)."""
    return principal.is_token or principal.role in ("member", "manager")


def may_change_activations(principal: Principal, cohort_protected: bool) -> bool:
    """Only managers and tokens change activations; in a protected cohort a token only if it
    was permitted to at creation."""
    if principal.is_token:
        return principal.permit_protected or not cohort_protected
    return principal.role == "manager"
