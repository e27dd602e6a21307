"""Compile the Designer forms in ui/ and the icons in resources/ into ota_desktop/gui/.

Run after editing a .ui or .qrc file:  python tools/build_ui.py
(tests/gui/test_forms.py fails when a compiled form is out of date).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FORMS = ROOT / "ota_desktop" / "gui" / "forms"
BANNER = "# Generated from {source} by tools/build_ui.py — do not edit.\n"


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if not found:
        raise SystemExit(f"{name} not found; install PySide6-Essentials")
    return found


def compile_form(ui: Path) -> str:
    out = subprocess.run([_tool("pyside6-uic"), "--from-imports", str(ui)], check=True,
                         capture_output=True, text=True).stdout
    return BANNER.format(source=f"ui/{ui.name}") + out


def build() -> None:
    FORMS.mkdir(parents=True, exist_ok=True)
    (FORMS / "__init__.py").write_text('"""Compiled Designer forms (generated; do not edit)."""\n')
    for ui in sorted((ROOT / "ui").glob("*.ui")):
        (FORMS / f"ui_{ui.stem}.py").write_text(compile_form(ui))
    rc = subprocess.run([_tool("pyside6-rcc"), "-g", "python", str(ROOT / "resources" /
                         "resources.qrc")], check=True, capture_output=True, text=True).stdout
    (FORMS / "resources_rc.py").write_text(
        BANNER.format(source="resources/resources.qrc") + rc)


if __name__ == "__main__":
    build()
