"""The versioned project snapshot JSON (SPEC §10): validation, import and export.

Validation is pure and complete before anything is written: an invalid file is refused as a
whole with the path of its first bad value (``releases[3].version``), and the database is left
exactly as it was.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ota_desktop.errors import BadInput, InvalidSnapshot, InvalidVersion
from ota_desktop.model import ReleaseRef, RolloutGuard
from ota_desktop.service import NewDevice, ProjectService
from ota_desktop.service.guard import check_guard
from ota_desktop.store.store import Store
from ota_desktop.versions import SCHEME_NAMES, VersionScheme, get_scheme

FORMAT = "ota-desktop/1"


@dataclass(frozen=True)
class Snapshot:
    """A validated snapshot: plain data, every reference checked."""

    data: dict[str, Any]


class _Checker:
    def __init__(self) -> None:
        self.scheme: VersionScheme = get_scheme("natural")

    def obj(self, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise InvalidSnapshot(path, "expected an object")
        return value

    def lst(self, value: Any, path: str) -> list[Any]:
        if not isinstance(value, list):
            raise InvalidSnapshot(path, "expected a list")
        return value

    def text(self, obj: Mapping[str, Any], key: str, path: str, default: str | None = None,
             nonempty: bool = True, multiline: bool = False) -> str:
        value = obj.get(key, default)
        if value is None:
            raise InvalidSnapshot(f"{path}.{key}", "is required")
        if not isinstance(value, str) or (nonempty and not value.strip()):
            raise InvalidSnapshot(f"{path}.{key}", "expected a non-empty string"
                                  if nonempty else "expected a string")
        _check_text(value, f"{path}.{key}", multiline)
        return value

    def flag(self, obj: Mapping[str, Any], key: str, path: str, default: bool) -> bool:
        value = obj.get(key, default)
        if not isinstance(value, bool):
            raise InvalidSnapshot(f"{path}.{key}", "expected true or false")
        return value

    def version(self, obj: Mapping[str, Any], key: str, path: str) -> str:
        value = self.text(obj, key, path)
        try:
            self.scheme.precedence(value)
        except InvalidVersion as exc:
            raise InvalidSnapshot(f"{path}.{key}", str(exc).rstrip(".")) from exc
        return value

    def attributes(self, value: Any, path: str) -> dict[str, str]:
        attrs = self.obj({} if value is None else value, path)
        for k, v in attrs.items():
            _check_text(k, f"{path}.{k}", False)
            if not isinstance(v, str):
                raise InvalidSnapshot(f"{path}.{k}", "attribute values are strings")
            _check_text(v, f"{path}.{k}", False)
        return dict(attrs)


MAX_SIZE = 2**63 - 1


def _check_text(value: str, path: str, multiline: bool) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidSnapshot(path, "is not valid Unicode text") from exc
    allowed = "\n\t\r" if multiline else ""
    if any(not ch.isprintable() and ch not in allowed and ch != " " for ch in value):
        raise InvalidSnapshot(path, "contains control characters")


def validate(raw: Any) -> Snapshot:
    c = _Checker()
    root = c.obj(raw, "$")
    if root.get("format") != FORMAT:
        raise InvalidSnapshot("format", f"expected {FORMAT!r}, found {root.get('format')!r}")
    p = c.obj(root.get("project"), "project")
    scheme_name = p.get("version_scheme", "natural")
    if scheme_name not in SCHEME_NAMES:
        raise InvalidSnapshot("project.version_scheme", f"expected one of {', '.join(SCHEME_NAMES)}")
    allow_build = c.flag(p, "allow_build_metadata", "project", False)
    c.scheme = get_scheme(scheme_name, allow_build)
    slug = c.text(p, "slug", "project")
    project = {"slug": slug, "name": c.text(p, "name", "project", default=slug),
               "version_scheme": scheme_name, "allow_build_metadata": allow_build}

    software_types = c.lst(root.get("software_types", ["main"]), "software_types")
    for i, st in enumerate(software_types):
        if not isinstance(st, str) or not st.strip():
            raise InvalidSnapshot(f"software_types[{i}]", "expected a non-empty string")
    if len(set(software_types)) != len(software_types):
        raise InvalidSnapshot("software_types", "lists a software type twice")

    def software_type(obj: Mapping[str, Any], path: str) -> str:
        value = c.text(obj, "software_type", path, default=software_types[0]
                       if len(software_types) == 1 else None)
        if value not in software_types:
            raise InvalidSnapshot(f"{path}.software_type", f"{value!r} is not in software_types")
        return value

    raw_cohorts = c.lst(root.get("cohorts", [{"slug": "default", "default": True}]), "cohorts")
    cohorts: list[dict[str, Any]] = []
    for i, item in enumerate(raw_cohorts):
        path = f"cohorts[{i}]"
        obj = c.obj(item, path)
        cslug = c.text(obj, "slug", path)
        if any(x["slug"] == cslug for x in cohorts):
            raise InvalidSnapshot(f"{path}.slug", f"cohort {cslug!r} appears twice")
        cohorts.append({
            "slug": cslug, "name": c.text(obj, "name", path, default=cslug),
            "default": c.flag(obj, "default", path, False),
            "disable_version_checking": c.flag(obj, "disable_version_checking", path, False),
            "protected": c.flag(obj, "protected", path, True),
        })
    defaults = [x for x in cohorts if x["default"]]
    if len(defaults) != 1:
        raise InvalidSnapshot("cohorts", f"exactly one cohort must be the default, found "
                              f"{len(defaults)}")
    cohort_slugs = {x["slug"] for x in cohorts}

    def payloads(value: Any, path: str) -> list[dict[str, Any]]:
        out = []
        for j, item in enumerate(c.lst(value or [], path)):
            ppath = f"{path}[{j}]"
            obj = c.obj(item, ppath)
            size = obj.get("size", 0)
            if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_SIZE:
                raise InvalidSnapshot(f"{ppath}.size",
                                      "expected a whole number of bytes ≥ 0 (below 2^63)")
            out.append({"filename": c.text(obj, "filename", ppath), "size": size,
                        "sha256": c.text(obj, "sha256", ppath, default="", nonempty=False),
                        "attributes": c.attributes(obj.get("attributes"), f"{ppath}.attributes")})
        return out

    releases, release_keys = [], set()
    for i, item in enumerate(c.lst(root.get("releases", []), "releases")):
        path = f"releases[{i}]"
        obj = c.obj(item, path)
        st = software_type(obj, path)
        version = c.version(obj, "version", path)
        if (st, version) in release_keys:
            raise InvalidSnapshot(f"{path}.version", f"release {version} appears twice")
        release_keys.add((st, version))
        releases.append({
            "software_type": st, "version": version,
            "must_pass_through": c.flag(obj, "must_pass_through", path, False),
            "revision": c.text(obj, "revision", path, default="", nonempty=False),
            "notes": c.text(obj, "notes", path, default="", nonempty=False, multiline=True),
            "payloads": payloads(obj.get("payloads"), f"{path}.payloads"),
        })

    deltas, delta_keys = [], set()
    for i, item in enumerate(c.lst(root.get("delta_releases", []), "delta_releases")):
        path = f"delta_releases[{i}]"
        obj = c.obj(item, path)
        st = software_type(obj, path)
        old, new = c.version(obj, "from_version", path), c.version(obj, "to_version", path)
        if c.scheme.precedence(new) <= c.scheme.precedence(old):
            raise InvalidSnapshot(f"{path}.to_version",
                                  f"{new} is not newer than {old} (a delta never downgrades)")
        if (st, old, new) in delta_keys:
            raise InvalidSnapshot(path, f"delta {old}→{new} appears twice")
        delta_keys.add((st, old, new))
        deltas.append({
            "software_type": st, "from_version": old, "to_version": new,
            "revision": c.text(obj, "revision", path, default="", nonempty=False),
            "notes": c.text(obj, "notes", path, default="", nonempty=False, multiline=True),
            "payloads": payloads(obj.get("payloads"), f"{path}.payloads"),
        })

    activations = []
    active_pairs: set[tuple[Any, ...]] = set()
    for i, item in enumerate(c.lst(root.get("activations", []), "activations")):
        path = f"activations[{i}]"
        obj = c.obj(item, path)
        ref_obj = c.obj(obj.get("release"), f"{path}.release")
        st = software_type(ref_obj, f"{path}.release")
        if "version" in ref_obj:
            ref = {"software_type": st, "version": c.text(ref_obj, "version", f"{path}.release")}
            if (st, ref["version"]) not in release_keys:
                raise InvalidSnapshot(f"{path}.release.version", "no such Full release")
        else:
            ref = {"software_type": st,
                   "from_version": c.text(ref_obj, "from_version", f"{path}.release"),
                   "to_version": c.text(ref_obj, "to_version", f"{path}.release")}
            if (st, ref["from_version"], ref["to_version"]) not in delta_keys:
                raise InvalidSnapshot(f"{path}.release", "no such Delta release")
        cohort = c.text(obj, "cohort", path)
        if cohort not in cohort_slugs:
            raise InvalidSnapshot(f"{path}.cohort", f"no cohort {cohort!r}")
        kind = obj.get("kind", "normal")
        if kind not in ("normal", "staged"):
            raise InvalidSnapshot(f"{path}.kind", "expected 'normal' or 'staged'")
        percent = obj.get("rollout_percent")
        if kind == "staged" and (not isinstance(percent, (int, float)) or isinstance(percent, bool)
                                 or not 0 < percent < 100):
            raise InvalidSnapshot(f"{path}.rollout_percent",
                                  "a staged rollout needs a percentage above 0 and below 100")
        status = obj.get("status", "active")
        if status not in ("active", "pulled"):
            raise InvalidSnapshot(f"{path}.status", "expected 'active' or 'pulled'")
        if status == "active":
            pair = (cohort, *sorted(ref.items()))
            if pair in active_pairs:
                raise InvalidSnapshot(path, "this release is already active in that cohort "
                                      "(listed twice)")
            active_pairs.add(pair)
        paused = obj.get("paused")
        if paused is not None and (status != "active" or not isinstance(paused, str)
                                   or not paused.strip() or len(paused) > 500):
            raise InvalidSnapshot(f"{path}.paused", "null, or why an active activation is "
                                  "paused (text, at most 500 characters)")
        if paused is not None:
            _check_text(paused, f"{path}.paused", False)
        activations.append({"release": ref, "cohort": cohort, "kind": kind,
                            "rollout_percent": percent if kind == "staged" else None,
                            "status": status, "guard": _guard(obj.get("guard"), path),
                            "paused": paused})

    keys, seen_keys = [], set()
    for i, item in enumerate(c.lst(root.get("project_keys", []), "project_keys")):
        path = f"project_keys[{i}]"
        obj = c.obj(item, path)
        key = c.text(obj, "key", path)
        if key in seen_keys:
            raise InvalidSnapshot(f"{path}.key", "this key appears twice")
        seen_keys.add(key)
        override = obj.get("cohort_override")
        if override is not None and not isinstance(override, str):
            raise InvalidSnapshot(f"{path}.cohort_override", "expected a cohort slug or null")
        if override is not None and override not in cohort_slugs:
            raise InvalidSnapshot(f"{path}.cohort_override", f"no cohort {override!r}")
        keys.append({"key": key, "cohort_override": override})

    devices, serials = [], set()
    default_slug = defaults[0]["slug"]
    for i, item in enumerate(c.lst(root.get("devices", []), "devices")):
        path = f"devices[{i}]"
        obj = c.obj(item, path)
        serial = c.text(obj, "serial", path)
        if serial in serials:
            raise InvalidSnapshot(f"{path}.serial", f"device {serial!r} appears twice")
        serials.add(serial)
        cohort = c.text(obj, "cohort", path, default=str(default_slug))
        if cohort not in cohort_slugs:
            raise InvalidSnapshot(f"{path}.cohort", f"no cohort {cohort!r}")
        devices.append({
            "serial": serial, "cohort": cohort, "software_type": software_type(obj, path),
            # A reported version is kept even when unparseable: the matrix flags it.
            "current_version": c.text(obj, "current_version", path, default="", nonempty=False),
            "attributes": c.attributes(obj.get("attributes"), f"{path}.attributes"),
            "staged": c.flag(obj, "staged", path, False),
        })

    return Snapshot({"format": FORMAT, "project": project, "software_types": software_types,
                     "cohorts": cohorts, "releases": releases, "delta_releases": deltas,
                     "activations": activations, "project_keys": keys, "devices": devices})


def load(path: str | Path) -> Snapshot:
    try:
        with open(path, encoding="utf-8-sig") as fh:
            raw = json.load(fh)
    except json.JSONDecodeError as exc:
        raise InvalidSnapshot("$", f"not valid JSON (line {exc.lineno}, column {exc.colno})") from exc
    except UnicodeDecodeError as exc:
        raise InvalidSnapshot("$", "not UTF-8 text") from exc
    except RecursionError as exc:
        raise InvalidSnapshot("$", "nested too deeply to be a snapshot") from exc
    except ValueError as exc:  # e.g. an integer literal with thousands of digits
        raise InvalidSnapshot("$", f"not a usable JSON document ({exc})") from exc
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        raise BadInput(f"Cannot read {path}: {exc.strerror}.") from exc
    return validate(raw)


def _guard(value: Any, path: str) -> dict[str, Any] | None:
    """An activation's optional rollout guard: {failures, percent, min_reports}."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidSnapshot(f"{path}.guard", "expected an object or null")
    guard = RolloutGuard(value.get("failures"), value.get("percent"),
                         value.get("min_reports", 20))
    for key, kinds in (("failures", (int,)), ("percent", (int, float)),
                       ("min_reports", (int,))):
        item = getattr(guard, key)
        if (item is None and key == "min_reports") or (item is not None and (
                isinstance(item, bool) or not isinstance(item, kinds))):
            raise InvalidSnapshot(f"{path}.guard.{key}", "expected a number")
    try:
        check_guard(guard)
    except BadInput as exc:
        raise InvalidSnapshot(f"{path}.guard", str(exc).rstrip(".")) from exc
    return vars(guard)


def import_snapshot(store: Store, snapshot: Snapshot, actor: str = "local",
                    progress: Callable[[int], None] | None = None) -> None:
    """Replace the whole project in ``store`` with ``snapshot``, in one transaction."""
    data = snapshot.data
    service = ProjectService(store, actor=actor)
    with service.operation("project.import", f"project:{data['project']['slug']}") as op:
        for table in ("device_versions", "devices", "device_groups", "payloads", "staging_runs",
                      "activations", "project_keys", "releases", "delta_releases", "cohorts",
                      "software_types", "project"):
            store.db.execute(f"DELETE FROM {table}")
        p = data["project"]
        service.create_project(p["slug"], p["name"], p["version_scheme"],
                               p["allow_build_metadata"])
        for st in data["software_types"]:
            service.add_software_type(st)
        for cohort in data["cohorts"]:
            service.create_cohort(cohort["slug"], cohort["name"], is_default=cohort["default"],
                                  disable_version_checking=cohort["disable_version_checking"],
                                  protected=cohort["protected"])
        for r in data["releases"]:
            service.create_release(r["software_type"], r["version"],
                                   must_pass_through=r["must_pass_through"],
                                   revision=r["revision"], notes=r["notes"])
            for pl in r["payloads"]:
                service.add_payload(ReleaseRef(r["software_type"], version=r["version"]),
                                    pl["filename"], size=pl["size"], sha256=pl["sha256"],
                                    attributes=pl["attributes"])
        for d in data["delta_releases"]:
            service.create_delta(d["software_type"], d["from_version"], d["to_version"],
                                 revision=d["revision"], notes=d["notes"])
            ref = ReleaseRef(d["software_type"], from_version=d["from_version"],
                             to_version=d["to_version"])
            for pl in d["payloads"]:
                service.add_payload(ref, pl["filename"], size=pl["size"], sha256=pl["sha256"],
                                    attributes=pl["attributes"])
        for key in data["project_keys"]:
            service.create_project_key(key["key"], key["cohort_override"])
        service.add_devices(
            (NewDevice(serial=d["serial"], current_version=d["current_version"],
                       cohort=d["cohort"], software_type=d["software_type"],
                       attributes=d["attributes"], staged=d["staged"])
             for d in data["devices"]),
            progress=progress,
        )
        for a in data["activations"]:
            ref = ReleaseRef(**a["release"])
            # Staged marks come from the file's devices; restoring must not re-draw them.
            service.restore_activation(ref, a["cohort"], kind=a["kind"],
                                       rollout_percent=a["rollout_percent"], status=a["status"],
                                       guard=RolloutGuard(**a["guard"]) if a["guard"] else None,
                                       paused=a["paused"])
        op.after = {"releases": len(data["releases"]), "devices": len(data["devices"])}


def export_snapshot(store: Store, out: IO[str]) -> int:
    """Write the project as snapshot JSON, streaming devices; returns the device count."""
    config = store.configuration()
    head: dict[str, Any] = {
        "format": FORMAT,
        "project": {"slug": config.project.slug, "name": config.project.name,
                    "version_scheme": config.project.version_scheme,
                    "allow_build_metadata": config.project.allow_build_metadata},
        "software_types": list(config.software_types),
        "cohorts": [{"slug": c.slug, "name": c.name, "default": c.is_default,
                     "disable_version_checking": c.disable_version_checking,
                     "protected": c.protected} for c in config.cohorts],
        "releases": [{"software_type": r.software_type, "version": r.version,
                      "must_pass_through": r.must_pass_through, "revision": r.revision,
                      "notes": r.notes, "payloads": [_payload_json(p) for p in r.payloads]}
                     for r in config.releases],
        "delta_releases": [{"software_type": d.software_type, "from_version": d.from_version,
                            "to_version": d.to_version, "revision": d.revision, "notes": d.notes,
                            "payloads": [_payload_json(p) for p in d.payloads]}
                           for d in config.delta_releases],
        "activations": [{"release": {k: v for k, v in vars(a.release).items() if v is not None},
                         "cohort": a.cohort, "kind": a.kind,
                         "rollout_percent": a.rollout_percent, "status": a.status,
                         "guard": vars(a.guard) if a.guard else None, "paused": a.paused}
                        for a in config.activations],
        "project_keys": [{"key": k.key, "cohort_override": k.cohort_override}
                         for k in config.project_keys],
    }
    text = json.dumps(head, indent=1)
    out.write(text[:-2] + ',\n "devices": [')
    count = 0
    for row in store.db.execute(
        "SELECT d.serial, c.slug, d.software_type, d.current_version, d.attributes, d.staged "
        "FROM devices d JOIN cohorts c ON c.id = d.cohort_id ORDER BY d.id"
    ):
        out.write(("\n  " if count == 0 else ",\n  ") + json.dumps(
            {"serial": row[0], "cohort": row[1], "software_type": row[2],
             "current_version": row[3], "attributes": json.loads(row[4]),
             "staged": bool(row[5])}))
        count += 1
    out.write("\n ]\n}\n")
    return count


def _payload_json(p: Any) -> dict[str, Any]:
    return {"filename": p.filename, "size": p.size, "sha256": p.sha256,
            "attributes": dict(p.attributes)}
