"""Full and Delta releases and their payloads."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ota_desktop.errors import BadInput, NotFound, RuleViolation
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
                    sha1: str = "", md5: str = "", attributes: Mapping[str, str] | None = None,
                    extra: Mapping[str, str] | None = None) -> int:
        """Record a payload's metadata (the file itself is stored by the artifact store)."""
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size < 2**62:
            raise BadInput("A payload's size is a whole number of bytes.")
        for name, value in (("filename", filename), ("sha256", sha256), ("sha1", sha1),
                            ("md5", md5)):
            if not isinstance(value, str):
                raise BadInput(f"A payload's {name} is text.")
        if not filename.strip():
            raise BadInput("A payload needs a file name.")
        for mapping, what in ((attributes or {}, "attributes"), (extra or {}, "extra")):
            if not all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
                raise BadInput(f"A payload's {what} are text keys and text values.")
        column, release_id = self._release_id(ref)
        attrs = dict(attributes or {})
        signature = None
        if self.signer is not None and len(sha256) == 64:
            from ota_desktop import signing

            signature = signing.sign(self.signer, sha256)
        after = {"filename": filename, "size": size, "sha256": sha256, "attributes": attrs,
                 **({"extra": dict(extra)} if extra else {})}
        with self.operation("payload.add", f"payload:{filename}") as op:
            cursor = self.db.execute(
                f"INSERT INTO payloads ({column}, filename, size, sha256, sha1, md5, attributes, "
                "extra, signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [release_id, filename, size, sha256, sha1, md5, attributes_key(attrs),
                 json.dumps(dict(sorted((extra or {}).items()))), signature],
            )
            op.after = {**after, "id": int(cursor.lastrowid or 0), "ref": vars(ref)}
        return int(cursor.lastrowid or 0)


    def update_release(self, ref: ReleaseRef, *, must_pass_through: bool | None = None,
                       revision: str | None = None, notes: str | None = None) -> None:
        """Change a release's MPT flag (Full only), revision or notes."""
        column, release_id = self._release_id(ref)
        table = "delta_releases" if ref.is_delta else "releases"
        fields: dict[str, str | bool | None] = {"revision": revision, "notes": notes}
        if must_pass_through is not None:
            if ref.is_delta:
                raise RuleViolation("Only Full releases can be must-pass-through.")
            fields["must_pass_through"] = must_pass_through
        changes = {k: v for k, v in fields.items() if v is not None}
        if not changes:
            return
        names = ", ".join(changes)
        row = self.db.execute(f"SELECT {names} FROM {table} WHERE id = ?", [release_id]).fetchone()
        before = dict(zip(changes, row, strict=True))
        if "must_pass_through" in before:
            before["must_pass_through"] = bool(before["must_pass_through"])
        before["ref"] = vars(ref)
        with self.operation("release.update", _entity(ref), before=before) as op:
            self.db.execute(
                f"UPDATE {table} SET {', '.join(f'{k} = ?' for k in changes)} WHERE id = ?",
                [*(int(v) if isinstance(v, bool) else v for v in changes.values()), release_id])
            op.after = {**changes, "ref": vars(ref)}

    def delete_release(self, ref: ReleaseRef) -> None:
        """Delete a release (Full or Delta) whose every activation is pulled."""
        column, release_id = self._release_id(ref)
        active = [r[0] for r in self.db.execute(
            f"SELECT c.slug FROM activations a JOIN cohorts c ON c.id = a.cohort_id "
            f"WHERE a.{column} = ? AND a.status = 'active' ORDER BY c.slug", [release_id])]
        kind = "Delta release" if ref.is_delta else "Release"
        if active:
            raise RuleViolation(
                f"{kind} {_name(ref)} is still active in cohort{'s' if len(active) > 1 else ''} "
                f"{', '.join(active)}; pull {'those activations' if len(active) > 1 else 'it'} "
                "before deleting it.")
        before = {**self._release_record(ref, column, release_id), "ref": vars(ref)}
        with self.operation("release.delete", _entity(ref), before=before):
            self.db.execute(f"DELETE FROM activations WHERE {column} = ?", [release_id])
            self.db.execute(f"DELETE FROM payloads WHERE {column} = ?", [release_id])
            table = "delta_releases" if ref.is_delta else "releases"
            self.db.execute(f"DELETE FROM {table} WHERE id = ?", [release_id])

    def last_payload_id(self) -> int:
        return int(self.db.execute("SELECT coalesce(max(id), 0) FROM payloads").fetchone()[0])

    def remove_payload(self, payload_id: int) -> None:
        row = self.db.execute("SELECT filename FROM payloads WHERE id = ?",
                              [payload_id]).fetchone()
        if row is None:
            raise NotFound("That payload does not exist (any more).")
        before = self._payload_rows("id", payload_id)[0]
        with self.operation("payload.remove", f"payload:{row[0]}", before=before):
            self.db.execute("DELETE FROM payloads WHERE id = ?", [payload_id])

    def _payload_rows(self, column: str, value: int) -> list[dict[str, Any]]:
        return [
            {"id": r[0], "filename": r[1], "size": r[2], "sha256": r[3], "sha1": r[4],
             "md5": r[5], "signature": r[6], "attributes": json.loads(r[7]),
             "release_id": r[8], "delta_release_id": r[9], "extra": json.loads(r[10])}
            for r in self.db.execute(
                "SELECT id, filename, size, sha256, sha1, md5, signature, attributes, "
                "release_id, delta_release_id, extra "
                f"FROM payloads WHERE {column} = ? ORDER BY id", [value])
        ]

    def _release_record(self, ref: ReleaseRef, column: str, release_id: int) -> dict[str, Any]:
        """Everything needed to re-create a deleted release exactly (for undo)."""
        table = "delta_releases" if ref.is_delta else "releases"
        cols = ("software_type, from_version, to_version, revision, notes, created_at"
                if ref.is_delta else
                "software_type, version, must_pass_through, revision, notes, created_at")
        row = self.db.execute(f"SELECT id, {cols} FROM {table} WHERE id = ?",
                              [release_id]).fetchone()
        record = dict(zip(["id", *[c.strip() for c in cols.split(",")]], row, strict=True))
        record["payloads"] = self._payload_rows(column, release_id)
        record["activations"] = [
            dict(zip(("id", "cohort_id", "kind", "rollout_percent", "status", "activated_by",
                      "created_at", "updated_at"), r, strict=True))
            for r in self.db.execute(
                "SELECT id, cohort_id, kind, rollout_percent, status, activated_by, created_at, "
                f"updated_at FROM activations WHERE {column} = ? ORDER BY id", [release_id])
        ]
        return record


def _name(ref: ReleaseRef) -> str:
    return f"{ref.from_version}→{ref.to_version}" if ref.is_delta else str(ref.version)


def _entity(ref: ReleaseRef) -> str:
    prefix = "delta" if ref.is_delta else "release"
    return f"{prefix}:{ref.software_type}/{ref.label}"
