"""Users with project roles and organization auth tokens (only a hash is stored)."""

from __future__ import annotations

from ota_desktop.auth import (
    ROLES,
    TOKEN_PREFIX,
    Principal,
    check_password,
    hash_password,
    hash_token,
    new_token,
)
from ota_desktop.errors import BadInput, NotFound, RuleViolation
from ota_desktop.service.base import ServiceBase


class AccessEdits(ServiceBase):
    def create_user(self, name: str, role: str, password: str | None = None) -> None:
        """A user with a project role; with a password they can also sign in to a server
        (Basic auth); only its scrypt hash is stored."""
        if not name.strip():
            raise BadInput("A user needs a name.")
        if ":" in name or not name.isprintable():
            raise BadInput("A user name cannot contain ':' (Basic auth splits there) or "
                           "control characters.")
        if role not in ROLES:
            raise BadInput(f"A role is one of {', '.join(ROLES)}, not {role!r}.")
        if self.db.execute("SELECT 1 FROM users WHERE name = ?", [name]).fetchone():
            raise RuleViolation(f"A user {name!r} already exists.")
        with self.operation("user.create", f"user:{name}") as op:
            self.db.execute("INSERT INTO users (name, role, created_at, password_hash) "
                            "VALUES (?, ?, ?, ?)", [name, role, self.clock(),
                                                    hash_password(password) if password
                                                    else None])
            op.after = {"name": name, "role": role}

    def create_token(self, name: str = "token", permit_protected: bool = False) -> str:
        """A new organization auth token; returned once, stored only as its hash."""
        token = new_token()
        prefix = token[:len(TOKEN_PREFIX) + 6]
        with self.operation("token.create", f"token:{prefix}") as op:
            self.db.execute(
                "INSERT INTO org_tokens (name, prefix, hash, permit_protected, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [name, prefix, hash_token(token), int(permit_protected), self.clock()])
            op.after = {"name": name, "prefix": prefix, "permit_protected": permit_protected}
        return token

    def revoke_token(self, prefix: str) -> None:
        rows = self.db.execute("SELECT id FROM org_tokens WHERE prefix = ? AND revoked_at "
                               "IS NULL", [prefix]).fetchall()
        if not rows:
            raise NotFound(f"There is no active token starting {prefix!r}.")
        with self.operation("token.revoke", f"token:{prefix}") as op:
            self.db.execute("UPDATE org_tokens SET revoked_at = ? WHERE prefix = ?",
                            [self.clock(), prefix])
            op.after = {"prefix": prefix}


def principal_for_token(store: object, token: str) -> Principal | None:
    """The token's principal, or None for an unknown or revoked token."""
    db = store.db  # type: ignore[attr-defined]
    row = db.execute("SELECT name, permit_protected FROM org_tokens WHERE hash = ? AND "
                     "revoked_at IS NULL", [hash_token(token)]).fetchone()
    if row is None:
        return None
    return Principal(row[0], "manager", is_token=True, permit_protected=bool(row[1]))


def principal_for_user(store: object, name: str) -> Principal | None:
    db = store.db  # type: ignore[attr-defined]
    row = db.execute("SELECT name, role FROM users WHERE name = ?", [name]).fetchone()
    return Principal(row[0], row[1]) if row else None


def user_credentials(store: object, name: str) -> tuple[str, str, str | None] | None:
    db = store.db  # type: ignore[attr-defined]
    row = db.execute("SELECT name, role, password_hash FROM users WHERE name = ?",
                     [name]).fetchone()
    return (row[0], row[1], row[2]) if row else None


def known_password(row: tuple[str, str, str | None], password: str) -> bool:
    """True when this password was verified for this user (and hash) before: scrypt runs
    once per password, not once per request."""
    return (row[0], row[2] or "", hash_token(password)) in _verified


def verify_password(row: tuple[str, str, str | None], password: str) -> bool:
    if known_password(row, password):
        return True
    if not check_password(password, row[2]):
        return False
    _verified.add((row[0], row[2] or "", hash_token(password)))
    return True


_verified: set[tuple[str, str, str]] = set()
