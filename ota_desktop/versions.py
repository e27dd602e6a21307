"""Version schemes: how a project's version strings are parsed and ordered.

Every scheme turns a version string into a *precedence key* (used for "greater than the
current version") and a *sort key* (precedence, then the string itself), so that distinct
strings of equal precedence — ``1.0`` and ``1.0.0`` under pep440, or ``1.0.0+a`` and
``1.0.0+b`` under semver with build metadata allowed — still have one deterministic order:
ties break by the plain string in code-point order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import natsort
import semver
from packaging.version import InvalidVersion as _PackagingInvalid
from packaging.version import Version as _Pep440Version

from ota_desktop.errors import InvalidVersion

MAX_VERSION_LENGTH = 128
SCHEME_NAMES = ("natural", "semver", "pep440")

PrecedenceKey = tuple[Any, ...]
SortKey = tuple[PrecedenceKey, str]


class VersionScheme(Protocol):
    @property
    def name(self) -> str: ...

    def precedence(self, text: str) -> PrecedenceKey: ...


def _check_common(scheme: str, text: str) -> None:
    if not isinstance(text, str) or not text:
        raise InvalidVersion(text, scheme, "a version cannot be empty")
    if len(text) > MAX_VERSION_LENGTH:
        raise InvalidVersion(text, scheme, f"a version is at most {MAX_VERSION_LENGTH} characters")
    if any(ch.isspace() or not ch.isprintable() for ch in text):
        raise InvalidVersion(text, scheme, "a version cannot contain spaces or control characters")


_natural_key = natsort.natsort_keygen()
_RELEASE = re.compile(r"^(\d+(?:\.\d+)*)(.*)$", re.DOTALL)
_SEPARATORS = "-_.+~"


@dataclass(frozen=True)
class NaturalScheme:
    """Lenient ordering: numeric release parts compared as numbers, and a suffix that starts
    with a letter (``rc1``, ``-dev``) is a pre-release sorting before its bare release.

    A suffix starting with a digit after a separator (``1.0-2``) sorts after the bare release.
    Text with no leading number sorts before every numbered version, naturally among itself.
    """

    name: str = "natural"

    def precedence(self, text: str) -> PrecedenceKey:
        _check_common(self.name, text)
        match = _RELEASE.match(text)
        if match is None:
            return ((), 0, tuple(_natural_key(text)))
        release = tuple(int(part) for part in match.group(1).split("."))
        suffix = match.group(2)
        if not suffix:
            return (release, 1, ())
        stripped = suffix[1:] if suffix[0] in _SEPARATORS else suffix
        is_pre = stripped[:1].isalpha() or not stripped
        return (release, 0 if is_pre else 2, tuple(_natural_key(stripped)))


@dataclass(frozen=True)
class SemverScheme:
    """Strict SemVer 2.0.0 precedence; build metadata only when the project opted in."""

    allow_build_metadata: bool = False
    name: str = "semver"

    def precedence(self, text: str) -> PrecedenceKey:
        _check_common(self.name, text)
        try:
            parsed = semver.Version.parse(text)
        except (ValueError, TypeError) as exc:
            raise InvalidVersion(text, self.name, "it is not a SemVer 2.0.0 version") from exc
        if parsed.build and not self.allow_build_metadata:
            raise InvalidVersion(
                text, self.name, "build metadata (+…) is not allowed in this project"
            )
        if parsed.prerelease is None:
            pre: tuple[Any, ...] = (1,)
        else:
            identifiers = tuple(
                (0, int(part), "") if part.isdigit() else (1, 0, part)
                for part in parsed.prerelease.split(".")
            )
            pre = (0, identifiers)
        return (parsed.major, parsed.minor, parsed.patch, pre)


@dataclass(frozen=True)
class Pep440Scheme:
    name: str = "pep440"

    def precedence(self, text: str) -> PrecedenceKey:
        _check_common(self.name, text)
        try:
            return (_Pep440Version(text),)
        except _PackagingInvalid as exc:
            raise InvalidVersion(text, self.name, "it is not a PEP 440 version") from exc


def get_scheme(name: str, allow_build_metadata: bool = False) -> VersionScheme:
    if name == "natural":
        return NaturalScheme()
    if name == "semver":
        return SemverScheme(allow_build_metadata=allow_build_metadata)
    if name == "pep440":
        return Pep440Scheme()
    raise ValueError(f"unknown version scheme {name!r}; choose one of {', '.join(SCHEME_NAMES)}")


def sort_key(scheme: VersionScheme, text: str) -> SortKey:
    return (scheme.precedence(text), text)


def is_valid(scheme: VersionScheme, text: str) -> bool:
    try:
        scheme.precedence(text)
    except InvalidVersion:
        return False
    return True


def sorted_versions(scheme: VersionScheme, versions: Iterable[str]) -> list[str]:
    """Sort valid versions in scheme order; raises InvalidVersion on the first invalid one."""
    return sorted(versions, key=lambda v: sort_key(scheme, v))


def display_order(scheme: VersionScheme, versions: Iterable[str]) -> list[str]:
    """Scheme order for valid versions, then unparseable ones (as reported) in string order."""
    valid: list[str] = []
    invalid: list[str] = []
    for v in set(versions):
        (valid if is_valid(scheme, v) else invalid).append(v)
    return sorted_versions(scheme, valid) + sorted(invalid)
