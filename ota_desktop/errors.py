"""Errors the product raises on purpose. Each message is one sentence a user can act on.

    OtaError
    ├── BadInput                  the user's input is wrong (CLI exit code 2)
    │   ├── InvalidVersion        a version string the project's scheme refuses
    │   ├── InvalidSnapshot       a snapshot file that fails validation (names the bad path)
    │   ├── NotFound              a release, cohort, device … that does not exist
    │   ├── NotAProjectFile       a path that is not (or not yet) an OTA Desktop project
    │   └── Forbidden             the user's role or token does not allow the change
    │   └── RuleViolation         a lifecycle rule refuses the change (duplicate, downgrade …)
    └── StoreError                the database cannot be used (CLI exit code 1)
        └── SchemaTooNew          written by a newer build than this one
"""

from __future__ import annotations


class OtaError(Exception):
    """Base of every error the product raises deliberately."""


class BadInput(OtaError):
    pass


class InvalidVersion(BadInput):
    def __init__(self, text: object, scheme: str, why: str) -> None:
        self.text = text
        self.scheme = scheme
        self.why = why
        shown = text if not isinstance(text, str) or len(text) <= 40 else text[:40] + "…"
        super().__init__(f"{shown!r} is not a valid {scheme} version: {why}.")


class InvalidSnapshot(BadInput):
    def __init__(self, path: str, why: str) -> None:
        self.path = path
        self.why = why
        super().__init__(f"{path}: {why}")


class NotFound(BadInput):
    pass


class RuleViolation(BadInput):
    pass


class NotAProjectFile(BadInput):
    pass


class Forbidden(BadInput):
    pass


class StoreError(OtaError):
    pass


class SchemaTooNew(StoreError):
    pass
