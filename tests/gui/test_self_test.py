"""``ota-desktop --self-test`` from source, as the one-folder build runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QFontDatabase

from ota_desktop.gui import fonts

pytestmark = pytest.mark.gui


NO_FONTS = """<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig><cachedir>{cache}</cachedir></fontconfig>
"""


def _self_test(*, code: str = "", fontconfig: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``ota-desktop --self-test`` in a fresh process with no display (``code`` first)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY",
                                                            "QT_QPA_PLATFORM")}
    if fontconfig is not None:
        env["FONTCONFIG_FILE"] = str(fontconfig)
    script = f"{code}\nfrom ota_desktop.cli import main\nraise SystemExit(main(['--self-test']))"
    return subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=180)


@pytest.fixture
def no_fonts(tmp_path: Path) -> Path:
    """A fontconfig setup that finds no font, as on a bare system."""
    path = tmp_path / "fonts.conf"
    path.write_text(NO_FONTS.format(cache=tmp_path / "fc-cache"))
    return path


def test_self_test_passes_and_reports_each_check() -> None:
    done = subprocess.run([sys.executable, "-m", "ota_desktop", "--self-test"],
                          env={k: v for k, v in os.environ.items()
                               if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")},
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "platform offscreen" in lines[0]  # forced: there is no display
    assert lines[1].startswith("  font: ")
    assert lines[2].startswith("  demo: 981 devices written to ")
    assert lines[3].startswith("  painted: version matrix ")
    assert lines[4] == "  matrix: 0.9 → 2.0 shows 21 devices, as the demo gives"
    assert lines[5].startswith("  server: http://127.0.0.1:")
    assert "answered a device on 0.9 with 2.0" in lines[5]
    assert lines[6].startswith("Self-test passed in ")


def test_without_system_fonts_the_shipped_font_draws_the_text(no_fonts: Path) -> None:
    done = _self_test(fontconfig=no_fonts)
    assert done.returncode == 0, done.stderr
    assert "  font: DejaVu Sans (shipped, the system has none)" in done.stdout.splitlines()


def test_without_any_font_it_fails_with_a_sentence(no_fonts: Path) -> None:
    done = _self_test(code="import pathlib, ota_desktop.gui.fonts as f\n"
                           "f.FONT_FILE = pathlib.Path('/nonexistent.ttf')", fontconfig=no_fonts)
    assert done.returncode == 1
    assert done.stderr.strip().endswith(
        "Self-test failed: no font here draws letters and digits, so text would show as boxes; "
        "install one (fonts-dejavu-core) or build with resources/fonts/DejaVuSans.ttf bundled.")
    assert "Self-test passed" not in done.stdout


def test_shipped_font_is_there_and_loads(qapp) -> None:
    assert (fonts.FONT_FILE.parent / "LICENSE").is_file()
    font_id = QFontDatabase.addApplicationFont(str(fonts.FONT_FILE))
    assert QFontDatabase.applicationFontFamilies(font_id) == ["DejaVu Sans"]
    QFontDatabase.removeApplicationFont(font_id)


def test_a_system_font_is_kept(qapp) -> None:
    in_use = fonts.ensure_font()
    assert in_use.draws_text and not in_use.shipped
