"""The core must import with PySide6 unavailable (STYLE: Qt-free core)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import ota_desktop

CORE = sorted(
    m.name for m in pkgutil.walk_packages(ota_desktop.__path__, "ota_desktop.")
    if not m.name.startswith("ota_desktop.gui") and not m.name.endswith("__main__")
)


def test_every_core_module_imports_with_pyside6_blocked() -> None:
    assert "ota_desktop.resolver" in CORE and "ota_desktop.store.store" in CORE
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('PySide6', 'shiboken6', 'qasync'):\n"
        "            raise ImportError('Qt is blocked in the core: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        f"for name in {CORE!r}:\n"
        "    __import__(name)\n"
        "assert not any(m.startswith('PySide6') for m in sys.modules)\n"
        "print('ok', len(" + repr(CORE) + "))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok")
