"""A guard against a PySide6 regression that aborts the app: 6.12.0 drops a reference to
``True`` on every ``Signal.emit()`` made from Python, so on Python 3.11 (where ``True`` is
not immortal) a long session — a fleet simulation emits dozens a second — ends in "Fatal
Python error: bool_dealloc". pyproject.toml excludes that release."""

from __future__ import annotations

import sys

import pytest
from PySide6.QtCore import QObject, Signal

pytestmark = pytest.mark.gui


class _Emitter(QObject):
    plain = Signal()
    value = Signal(object)


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="True is immortal from Python 3.12")
def test_emitting_signals_from_python_keeps_true_alive(qapp) -> None:
    emitter = _Emitter()
    before = sys.getrefcount(True)
    for i in range(200):
        emitter.plain.emit()
        emitter.value.emit(i)
    assert sys.getrefcount(True) >= before - 10, "this PySide6 leaks a reference per emit"
