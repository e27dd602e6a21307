"""Proposed edits as values: each describes itself and applies through the service.

The window's undo stack, the what-if preview and the CLI all take the same Change objects, so
an edit is previewed, applied and re-applied (redo) by one mechanism. A Change that draws
staged devices carries its seed, so a preview and the real edit mark the same devices.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ota_desktop.model import ActivationKind, ReleaseRef, RolloutGuard
from ota_desktop.service import ProjectService


def new_seed() -> int:
    return random.SystemRandom().randrange(2**31)


class Change(Protocol):
    """A proposed edit; ``cohort``/``software_type`` name the matrix it affects."""

    @property
    def cohort(self) -> str: ...

    @property
    def software_type(self) -> str: ...

    def describe(self) -> str: ...

    def apply(self, service: ProjectService) -> None: ...


def _release_name(ref: ReleaseRef) -> str:
    if ref.is_delta:
        return f"Delta {ref.from_version}→{ref.to_version}"
    return f"Full release {ref.version}"


@dataclass(frozen=True)
class Activate:
    ref: ReleaseRef
    cohort: str
    kind: ActivationKind = "normal"
    rollout_percent: float | None = None
    seed: int = field(default_factory=new_seed)
    guard: RolloutGuard | None = None

    @property
    def software_type(self) -> str:
        return self.ref.software_type

    def describe(self) -> str:
        how = (f"as a staged rollout at {self.rollout_percent:g}%" if self.kind == "staged"
               else "for every device")
        guarded = f" (rollout guard: {self.guard.describe()})" if self.guard else ""
        return f"Activate {_release_name(self.ref)} in {self.cohort} {how}{guarded}"

    def apply(self, service: ProjectService) -> None:
        service.activate(self.ref, self.cohort, kind=self.kind,
                         rollout_percent=self.rollout_percent, seed=self.seed, guard=self.guard)


@dataclass(frozen=True)
class SetRollout:
    ref: ReleaseRef
    cohort: str
    rollout_percent: float
    seed: int = field(default_factory=new_seed)

    @property
    def software_type(self) -> str:
        return self.ref.software_type

    def describe(self) -> str:
        return (f"Set the staged rollout of {_release_name(self.ref)} in {self.cohort} to "
                f"{self.rollout_percent:g}%")

    def apply(self, service: ProjectService) -> None:
        service.set_rollout_percent(self.ref, self.cohort, self.rollout_percent, seed=self.seed)


@dataclass(frozen=True)
class Pull:
    ref: ReleaseRef
    cohort: str

    @property
    def software_type(self) -> str:
        return self.ref.software_type

    def describe(self) -> str:
        return f"Pull (abort) {_release_name(self.ref)} in {self.cohort}"

    def apply(self, service: ProjectService) -> None:
        service.deactivate(self.ref, self.cohort)



@dataclass(frozen=True)
class SetGuard:
    """Set, change or (``guard=None``) remove an activation's rollout guard."""

    ref: ReleaseRef
    cohort: str
    guard: RolloutGuard | None = None

    @property
    def software_type(self) -> str:
        return self.ref.software_type

    def describe(self) -> str:
        what = self.guard.describe() if self.guard else "none"
        return f"Set the rollout guard of {_release_name(self.ref)} in {self.cohort}: {what}"

    def apply(self, service: ProjectService) -> None:
        service.set_guard(self.ref, self.cohort, self.guard)


@dataclass(frozen=True)
class Resume:
    """Serve a paused activation again (failures are counted afresh)."""

    ref: ReleaseRef
    cohort: str

    @property
    def software_type(self) -> str:
        return self.ref.software_type

    def describe(self) -> str:
        return f"Resume {_release_name(self.ref)} in {self.cohort}"

    def apply(self, service: ProjectService) -> None:
        service.resume(self.ref, self.cohort)


@dataclass(frozen=True)
class Pause:
    """Stop serving an activation; the rollout guard makes these (on a linked mirror they go
    up to the server like any edit, so the server stops serving it too)."""

    ref: ReleaseRef
    cohort: str
    reason: str

    @property
    def software_type(self) -> str:
        return self.ref.software_type

    def describe(self) -> str:
        return f"Pause {_release_name(self.ref)} in {self.cohort} ({self.reason})"

    def apply(self, service: ProjectService) -> None:
        service.pause(self.ref, self.cohort, self.reason)


@dataclass(frozen=True)
class NewPayload:
    filename: str
    size: int
    sha256: str
    sha1: str
    md5: str
    attributes: Mapping[str, str]


@dataclass(frozen=True)
class CreateRelease:
    """A Full release (or, with ``from_version``, a Delta) and its payloads, in one edit."""

    software_type: str
    version: str
    from_version: str | None = None
    must_pass_through: bool = False
    revision: str = ""
    notes: str = ""
    payloads: Sequence[NewPayload] = ()
    cohort: str = ""

    @property
    def ref(self) -> ReleaseRef:
        if self.from_version is not None:
            return ReleaseRef(self.software_type, from_version=self.from_version,
                              to_version=self.version)
        return ReleaseRef(self.software_type, version=self.version)

    def describe(self) -> str:
        if self.from_version is not None:
            return f"Create Delta release {self.from_version}→{self.version}"
        return f"Create {'MPT ' if self.must_pass_through else ''}Full release {self.version}"

    def apply(self, service: ProjectService) -> None:
        with service.db.atomic():  # all or nothing; each step is its own recorded operation
            if self.from_version is not None:
                service.create_delta(self.software_type, self.from_version, self.version,
                                     revision=self.revision, notes=self.notes)
            else:
                service.create_release(self.software_type, self.version,
                                       must_pass_through=self.must_pass_through,
                                       revision=self.revision, notes=self.notes)
            for p in self.payloads:
                service.add_payload(self.ref, p.filename, size=p.size, sha256=p.sha256,
                                    sha1=p.sha1, md5=p.md5, attributes=p.attributes)


@dataclass(frozen=True)
class CreateCohort:
    slug: str
    name: str = ""
    disable_version_checking: bool = False
    protected: bool = True
    polling_interval_s: int = 3600
    software_type: str = ""

    @property
    def cohort(self) -> str:
        return self.slug

    def describe(self) -> str:
        return f"Create cohort {self.slug}"

    def apply(self, service: ProjectService) -> None:
        service.create_cohort(self.slug, self.name or None,
                              disable_version_checking=self.disable_version_checking,
                              protected=self.protected,
                              polling_interval_s=self.polling_interval_s)


@dataclass(frozen=True)
class UpdateCohort:
    cohort: str
    name: str | None = None
    disable_version_checking: bool | None = None
    protected: bool | None = None
    polling_interval_s: int | None = None
    software_type: str = ""

    def describe(self) -> str:
        return f"Edit cohort {self.cohort}"

    def apply(self, service: ProjectService) -> None:
        service.update_cohort(self.cohort, name=self.name,
                              disable_version_checking=self.disable_version_checking,
                              protected=self.protected,
                              polling_interval_s=self.polling_interval_s)


@dataclass(frozen=True)
class MoveDevices:
    serials: tuple[str, ...]
    cohort: str
    software_type: str = ""

    def describe(self) -> str:
        return f"Move {len(self.serials):,} device(s) to {self.cohort}"

    def apply(self, service: ProjectService) -> None:
        service.move_devices(self.serials, self.cohort)


@dataclass(frozen=True)
class CreateKey:
    key: str
    cohort_override: str | None = None
    cohort: str = ""
    software_type: str = ""

    def describe(self) -> str:
        return "Create a project key" + (f" (overrides to {self.cohort_override})"
                                         if self.cohort_override else "")

    def apply(self, service: ProjectService) -> None:
        service.create_project_key(self.key, self.cohort_override)


@dataclass(frozen=True)
class SetKeyOverride:
    key: str
    cohort_override: str | None
    cohort: str = ""
    software_type: str = ""

    def describe(self) -> str:
        return f"Set the cohort override of key {self.key[:6]}… to {self.cohort_override or 'none'}"

    def apply(self, service: ProjectService) -> None:
        service.set_key_override(self.key, self.cohort_override)


@dataclass(frozen=True)
class DeleteRelease:
    ref: ReleaseRef
    cohort: str = ""

    @property
    def software_type(self) -> str:
        return self.ref.software_type

    def describe(self) -> str:
        return f"Delete {_release_name(self.ref)}"

    def apply(self, service: ProjectService) -> None:
        service.delete_release(self.ref)


@dataclass(frozen=True)
class EditRelease:
    """Change an existing release's revision, notes or MPT flag, and add payloads."""

    ref: ReleaseRef
    must_pass_through: bool | None = None
    revision: str | None = None
    notes: str | None = None
    payloads: Sequence[NewPayload] = ()
    cohort: str = ""

    @property
    def software_type(self) -> str:
        return self.ref.software_type

    def describe(self) -> str:
        return f"Edit {_release_name(self.ref)}"

    def apply(self, service: ProjectService) -> None:
        with service.db.atomic():
            service.update_release(self.ref, must_pass_through=self.must_pass_through,
                                   revision=self.revision, notes=self.notes)
            for p in self.payloads:
                service.add_payload(self.ref, p.filename, size=p.size, sha256=p.sha256,
                                    sha1=p.sha1, md5=p.md5, attributes=p.attributes)
