"""The one-folder build (PyInstaller 6): dist/ota-desktop/ota-desktop is the ``ota-desktop``
CLI (no arguments: the window; ``serve``; ``--self-test``) with Python, Qt and every library
it needs in one folder.

    pip install -e '.[build]' && python build_spec.py

The name comes from pyproject.toml and the version from the package (as Picard's picard.spec
takes them from picard). PyInstaller writes its generated spec to build/ota-desktop.spec.
"""

from __future__ import annotations

import platform
import re
import subprocess
import sys
import time
import tomllib
from pathlib import Path

#: PyInstaller leaves these to the system (its dylib exclude list: "they come with the graphics
#: stack"), but libQt6Gui needs every one of them just to load, and a bare system (a minimal
#: container, a server install) has none. They are vendor-neutral (glvnd) or ABI-stable (xcb),
#: so the bundled copies still hand over to a desktop's own GL drivers.
SYSTEM_LIBRARIES = ("libGL.so.1", "libEGL.so.1", "libGLX.so.0", "libGLdispatch.so.0",
                    "libxcb.so.1")
#: uvicorn imports its loop, protocol and lifespan classes by name at startup; the
#: hooks-contrib uvicorn hook collects them today, listed so `serve` does not rest on that
HIDDEN_IMPORTS = ("uvicorn.loops.auto", "uvicorn.loops.asyncio", "uvicorn.loops.uvloop",
                  "uvicorn.protocols.http.auto", "uvicorn.protocols.http.h11_impl",
                  "uvicorn.protocols.http.httptools_impl", "uvicorn.protocols.websockets.auto",
                  "uvicorn.protocols.websockets.websockets_impl",
                  "uvicorn.protocols.websockets.wsproto_impl", "uvicorn.lifespan.on",
                  "uvicorn.lifespan.off")
#: development tools and test libraries installed next to the app, never imported by it;
#: httpx's own command line (pygments, rich) and watchfiles (uvicorn --reload): never used
EXCLUDES = ("tests", "hypothesis", "mypy", "pytest", "_pytest", "pytestqt", "memfault_cli",
            "aiohttp", "PyInstaller", "setuptools", "pip", "tkinter", "IPython", "httpx._main",
            "watchfiles")


def project(root: Path) -> tuple[str, str]:
    """The distribution name (pyproject.toml) and version (the package)."""
    name = tomllib.loads((root / "pyproject.toml").read_text())["project"]["name"]
    sys.path.insert(0, str(root))
    from ota_desktop import __version__

    return name, __version__


def qt_system_libraries() -> list[Path]:
    """SYSTEM_LIBRARIES as the bundled Qt links them here (found with ldd). Every library Qt's
    X11 plugin links must be on this machine too: PyInstaller bundles what it finds and leaves
    out the rest silently, and the build would then open no window on X11."""
    import PySide6

    qt = Path(PySide6.__file__).parent / "Qt"
    found: dict[str, Path] = {}
    absent: set[str] = set()
    for library in (qt / "lib" / "libQt6Gui.so.6", qt / "plugins" / "platforms" / "libqxcb.so"):
        ldd = subprocess.run(["ldd", str(library)], check=True, capture_output=True,
                             text=True).stdout
        absent.update(re.findall(r"^\s*(\S+) => not found", ldd, re.MULTILINE))
        for name, path in re.findall(r"^\s*(\S+) => (/\S+)", ldd, re.MULTILINE):
            if name in SYSTEM_LIBRARIES:
                found[name] = Path(path)
    absent.update(set(SYSTEM_LIBRARIES) - set(found))
    if absent:
        raise SystemExit(f"The build needs {', '.join(sorted(absent))} on this machine (on "
                         "Debian: the packages .ci/run installs).")
    return list(found.values())


def pyinstaller_arguments(root: Path, name: str) -> list[str]:
    arguments = [str(root / "ota_desktop" / "__main__.py"), "--name", name, "--onedir",
                 "--console", "--noconfirm", "--clean", "--log-level=WARN",
                 "--distpath", str(root / "dist"), "--workpath", str(root / "build"),
                 "--specpath", str(root / "build"), "--paths", str(root),
                 "--add-data", f"{root / 'resources' / 'fonts'}:resources/fonts"]
    arguments += [f"--add-binary={library}:." for library in qt_system_libraries()]
    arguments += [f"--hidden-import={module}" for module in HIDDEN_IMPORTS]
    arguments += [f"--exclude-module={module}" for module in EXCLUDES]
    return arguments


def main() -> int:
    if platform.system() != "Linux":
        raise SystemExit("This build finds Qt's system libraries with ldd: Linux only.")
    import PyInstaller.__main__

    root = Path(__file__).resolve().parent
    name, version = project(root)
    started = time.perf_counter()
    print(f"Building {name} {version} (one folder)…", flush=True)
    PyInstaller.__main__.run(pyinstaller_arguments(root, name))
    folder = root / "dist" / name
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink())
    print(f"Built {folder / name} ({size / 2**20:.0f} MB, "
          f"{time.perf_counter() - started:.0f} s).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
