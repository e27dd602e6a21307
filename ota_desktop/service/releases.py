"""Full and Delta releases and their payloads."""

from __future__ import annotations

from collections.abc import Mapping

from ota_desktop.errors import RuleViolation
from ota_desktop.model import ReleaseRef, attributes_key
from ota_desktop.service.base import ServiceBase


class ReleaseEdits(ServiceBase):
    def create_release(self, software_type: str, version: str, *, must_pass_through: bool = False,
                       revision: str = "", notes: str = "") -> int:
        self._check_version(version)
        self._require_software_type(software_type)
        if self.db.execute("SELECT 1 FROM releases WHERE software_type = ? AND version = ?",
                           [software_type, version]).fetchone():
            raise RuleViolation(f"A Full release {version} of {software_type} already exists.")
        after = {"software_type": software_type, "version": version,
                 "must_pass_through": must_pass_through, "revision": revision, "notes": notes}
        with self.operation("release.create", f"release:{software_type}/{version}") as op:
            cursor = self.db.execute(
                "INSERT INTO releases (software_type, version, must_pass_through, revision, "
                "notes, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                [software_type, version, int(must_pass_through), revision, notes, self.clock()],
            )
            op.after = after
        return int(cursor.lastrowid or 0)

    def create_delta(self, software_type: str, from_version: str, to_version: str, *,
                     revision: str = "", notes: str = "") -> int:
        scheme = self.store.project().scheme
        self._require_software_type(software_type)
        if scheme.precedence(to_version) <= scheme.precedence(from_version):
            raise RuleViolation(f"A Delta release must go up: {to_version} is not newer than "
                                f"{from_version} (delta downgrades are not supported).")
        if self.db.execute(
            "SELECT 1 FROM delta_releases WHERE software_type = ? AND from_version = ? "
            "AND to_version = ?", [software_type, from_version, to_version]
        ).fetchone():
            raise RuleViolation(f"A Delta release {from_version}→{to_version} already exists.")
        entity = f"delta:{software_type}/{from_version}->{to_version}"
        with self.operation("delta.create", entity) as op:
            cursor = self.db.execute(
                "INSERT INTO delta_releases (software_type, from_version, to_version, revision, "
                "notes, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                [software_type, from_version, to_version, revision, notes, self.clock()],
            )
            op.after = {"software_type": software_type, "from_version": from_version,
                        "to_version": to_version, "revision": revision, "notes": notes}
        return int(cursor.lastrowid or 0)

    def add_payload(self, ref: ReleaseRef, filename: str, *, size: int = 0, sha256: str = "",
                    sha1: str = "", md5: str = "", attributes: Mapping[str, str] | None = None
                    ) -> int:
        """Record a payload's metadata (the file itself is stored by the artifact store)."""
        column, release_id = self._release_id(ref)
        attrs = dict(attributes or {})
        after = {"filename": filename, "size": size, "sha256": sha256, "attributes": attrs}
        with self.operation("payload.add", f"payload:{filename}") as op:
            cursor = self.db.execute(
                f"INSERT INTO payloads ({column}, filename, size, sha256, sha1, md5, attributes) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [release_id, filename, size, sha256, sha1, md5, attributes_key(attrs)],
            )
            op.after = after
        return int(cursor.lastrowid or 0)

