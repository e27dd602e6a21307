"""The project signing key and payload signatures (the private key is stored encrypted)."""

from __future__ import annotations

from ota_desktop import signing
from ota_desktop.errors import BadInput, NotFound, RuleViolation
from ota_desktop.service.base import ServiceBase


class SigningEdits(ServiceBase):
    def create_signing_key(self, passphrase: str, algorithm: str = "ed25519") -> str:
        """A new project signing key; returns its public key (PEM)."""
        return self._store_key(signing.generate(algorithm), passphrase, "created")

    def import_signing_key(self, pem: bytes, passphrase: str,
                           current_passphrase: str | None = None) -> str:
        """Import a private key (plain, or encrypted with ``current_passphrase``); it is
        stored encrypted with ``passphrase``."""
        return self._store_key(signing.load_private(pem, current_passphrase), passphrase,
                               "imported")

    def _store_key(self, key: signing.PrivateKey, passphrase: str, how: str) -> str:
        if self.db.execute("SELECT 1 FROM signing_key").fetchone():
            raise RuleViolation("This project already has a signing key.")
        encrypted = signing.encrypted_pem(key, passphrase)
        public = signing.public_pem(key)
        algorithm = signing.algorithm_of(key)
        with self.operation("project.signing_key", "signing_key") as op:
            self.db.execute("INSERT INTO signing_key (id, algorithm, public_pem, private_pem, "
                            "created_at) VALUES (1, ?, ?, ?, ?)",
                            [algorithm, public, encrypted, self.clock()])
            op.after = {"algorithm": algorithm, "public_pem": public, "how": how}
        return public

    def signing_key(self, passphrase: str) -> signing.PrivateKey:
        row = self.db.execute("SELECT private_pem FROM signing_key").fetchone()
        if row is None:
            raise NotFound("This project has no signing key yet (signing-key create).")
        return signing.load_private(row[0], passphrase)

    def sign_payloads(self, passphrase: str) -> int:
        """Sign every payload that has a sha256 and no signature yet; returns how many."""
        key = self.signing_key(passphrase)
        rows = self.db.execute("SELECT id, sha256 FROM payloads WHERE signature IS NULL AND "
                               "length(sha256) = 64").fetchall()
        if not rows:
            return 0
        signed = []
        for payload_id, sha in rows:
            try:
                signed.append((signing.sign(key, sha), payload_id))
            except BadInput:
                continue
        with self.operation("payload.sign", "payloads") as op:
            self.db.conn.executemany("UPDATE payloads SET signature = ? WHERE id = ?", signed)
            op.after = {"signed": [i for _, i in signed]}
        return len(signed)


def public_key(store: object) -> tuple[str, str] | None:
    """(algorithm, public PEM) of the project's signing key, or None. A factory station or a
    linked mirror has only the public half, from the bundles it took or its server."""
    row = store.db.execute(  # type: ignore[attr-defined]
        "SELECT algorithm, public_pem FROM signing_key UNION ALL "
        "SELECT algorithm, public_pem FROM bundle_source UNION ALL "
        "SELECT signing_algorithm, signing_public_pem FROM sync_link "
        "WHERE signing_public_pem IS NOT NULL").fetchone()
    return (row[0], row[1]) if row else None
