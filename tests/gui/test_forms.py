"""Compiled Designer forms must match their ui/*.ui sources (run tools/build_ui.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("build_ui", ROOT / "tools" / "build_ui.py")
assert spec and spec.loader
build_ui = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build_ui)


def _code(text: str) -> list[str]:
    # the uic banner names the Qt version; everything else must be identical
    return [line for line in text.splitlines() if not line.startswith("#")]


@pytest.mark.parametrize("ui", sorted((ROOT / "ui").glob("*.ui")), ids=lambda p: p.name)
def test_compiled_form_is_up_to_date(ui: Path) -> None:
    compiled = ROOT / "ota_desktop" / "gui" / "forms" / f"ui_{ui.stem}.py"
    assert compiled.exists(), f"{compiled} is missing: run python tools/build_ui.py"
    assert _code(compiled.read_text()) == _code(build_ui.compile_form(ui)), (
        f"{compiled.name} is out of date: run python tools/build_ui.py")


def test_every_icon_in_the_qrc_is_compiled_in(qapp) -> None:
    import re

    from PySide6.QtCore import QFile

    from ota_desktop.gui.forms import resources_rc  # noqa: F401

    names = re.findall(r"<file>(.+?)</file>", (ROOT / "resources" / "resources.qrc").read_text())
    assert names
    for name in names:
        assert QFile.exists(f":/{name}"), name
