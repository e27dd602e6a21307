"""The one way to change a project: every mutation validates, writes in one transaction and
records an operation (who, when, what, before, after). The GUI, the CLI and the server all
call these methods; none of them writes SQL of its own.
"""

from __future__ import annotations

from ota_desktop.service.access import AccessEdits
from ota_desktop.service.activations import ActivationEdits
from ota_desktop.service.base import Clock, Operation, utc_now
from ota_desktop.service.fleet import FleetEdits, MoveResult, NewDevice
from ota_desktop.service.guard import GuardEdits
from ota_desktop.service.releases import ReleaseEdits
from ota_desktop.service.signing import SigningEdits
from ota_desktop.service.undo import UndoEdits


class ProjectService(ReleaseEdits, ActivationEdits, GuardEdits, FleetEdits, UndoEdits,
                     AccessEdits, SigningEdits):
    """All of a project's mutations, split by role across the mixins it combines."""


__all__ = ["Clock", "MoveResult", "NewDevice", "Operation", "ProjectService", "utc_now"]
