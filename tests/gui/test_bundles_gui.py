"""Signing and offline bundles from the window: create and unlock the signing key (payloads
added then are signed), export a release bundle with progress, import it on a station window
after comparing the fingerprint, and a tampered bundle refused with nothing changed."""

from __future__ import annotations

import hashlib

import pytest
from PySide6.QtCore import Qt

from ota_desktop import bundle, signing
from ota_desktop.changes import CreateRelease, NewPayload
from ota_desktop.model import ReleaseRef
from ota_desktop.store import Store
from tests.server.conftest import add_file_payload

from .conftest import save_screenshot

pytestmark = pytest.mark.gui
PASS = "correct horse battery"


def click(qtbot, button) -> None:
    assert button.isEnabled(), button.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_signing_key_dialog_creates_unlocks_and_signs_new_payloads(main_window, small_demo,
                                                                    qtbot, tmp_path) -> None:
    window = main_window(small_demo)
    dialog = window.bundle_menu.open_signing_key()
    assert "no signing key" in dialog.status.text()
    assert not dialog.unlock_button.isEnabled()
    qtbot.keyClicks(dialog.passphrase_edit, "short")
    qtbot.keyClicks(dialog.repeat_edit, "short")
    click(qtbot, dialog.create_button)
    assert "at least 8" in dialog.message.text()
    dialog.passphrase_edit.setText(PASS)
    dialog.repeat_edit.setText(PASS + "x")
    click(qtbot, dialog.create_button)
    assert "differ" in dialog.message.text()
    assert Store.open(small_demo).db.execute("SELECT count(*) FROM signing_key").fetchone()[0] == 0
    dialog.repeat_edit.setText(PASS)
    click(qtbot, dialog.create_button)
    fingerprint = bundle.keys(Store.open(small_demo)).signing_key
    assert fingerprint and fingerprint in dialog.status.text()
    assert not dialog.create_button.isEnabled()
    dialog.passphrase_edit.setText("wrong passphrase")
    click(qtbot, dialog.unlock_button)
    assert "Wrong passphrase" in dialog.message.text() and window.controller.signer is None
    dialog.passphrase_edit.setText(PASS)
    click(qtbot, dialog.unlock_button)
    assert "Unlocked" in dialog.status.text()
    save_screenshot(dialog, "signing-key", tmp_path)

    sha = hashlib.sha256(b"image 3.0").hexdigest()
    window.controller.apply(CreateRelease("main", "3.0", payloads=[NewPayload(
        "main-3.0.swu", 9, sha, "", "", {"hardware_version": "evt"})]))
    store = Store.open(small_demo)
    signature = store.configuration().find_release(
        ReleaseRef("main", version="3.0")).payloads[0].signature
    public = signing.load_public(store.db.execute("SELECT public_pem FROM signing_key")
                                 .fetchone()[0])
    assert signature and signing.verify(public, sha, signature)


def test_export_and_import_bundles_in_the_window(main_window, small_demo, qtbot,
                                                 tmp_path) -> None:
    add_file_payload(small_demo, ReleaseRef("main", version="2.0"), b"fw" * 300_000,
                     "main-2.0.swu")
    from ota_desktop.service import ProjectService

    ProjectService(Store.open(small_demo)).create_signing_key(PASS)
    hq = main_window(small_demo)
    export = hq.bundle_menu.open_export_bundle()
    target = tmp_path / "line3.otab"
    click(qtbot, export.run_button)
    assert "Name the bundle file" in export.message.text()
    export.file_edit.setText(str(target))
    click(qtbot, export.run_button)
    assert "passphrase" in export.message.text()
    export.passphrase_edit.setText("wrong passphrase")
    with qtbot.waitSignal(hq.bundles.failed, timeout=30_000):
        click(qtbot, export.run_button)
    assert "Wrong passphrase" in export.message.text() and not target.exists()
    export.passphrase_edit.setText(PASS)
    steps: list[tuple[int, int]] = []
    hq.bundles.progress.connect(lambda d, t: steps.append((d, t)))
    with qtbot.waitSignal(hq.bundles.finished, timeout=30_000):
        click(qtbot, export.run_button)
    assert "Wrote line3.otab: bundle 1" in export.message.text() and target.is_file()
    assert steps and steps[-1][0] == steps[-1][1]
    save_screenshot(export, "bundle-export", tmp_path)

    # a station: a fresh project file, opened in its own window
    station = tmp_path / "station.db"
    from ota_desktop.demo import write_demo

    write_demo(Store.open(station), scale=0.0001)  # something to open; the bundle replaces it
    st = main_window(station)
    tampered = tmp_path / "tampered.otab"
    data = bytearray(target.read_bytes())
    data[data.find(b"fw" * 100) + 5] ^= 1
    tampered.write_bytes(bytes(data))
    dialog = st.bundle_menu.open_import_bundle()
    dialog.file_edit.setText(str(tampered))
    before = "\n".join(Store.open(station).db.conn.iterdump())
    with qtbot.waitSignal(st.bundles.failed, timeout=30_000):
        click(qtbot, dialog.run_button)
    assert "does not have that sha256" in dialog.message.text()
    assert "\n".join(Store.open(station).db.conn.iterdump()) == before


def test_a_station_window_imports_after_the_fingerprint_check(main_window, small_demo, qtbot,
                                                              tmp_path) -> None:
    from ota_desktop.service import ProjectService

    service = ProjectService(Store.open(small_demo))
    service.create_signing_key(PASS)
    target = tmp_path / "out.otab"
    bundle.export_releases(Store.open(small_demo), target, service.signing_key(PASS))
    station = tmp_path / "station.db"
    # the station's first project: what the demo shows before HQ's bundle replaces it
    from ota_desktop.demo import write_demo

    write_demo(Store.open(station), scale=0.0001)
    st = main_window(station)
    dialog = st.bundle_menu.open_import_bundle()
    dialog.file_edit.setText(str(target))
    dialog.station_edit.setText("line 3")
    with qtbot.waitSignal(st.bundles.needsReplace, timeout=30_000):
        click(qtbot, dialog.run_button)  # the open project has releases of its own
    assert dialog.replace_button.isVisible() and "replaces them" in dialog.trust_label.text()
    assert Store.open(station).configuration().releases  # nothing replaced yet
    with qtbot.waitSignal(st.bundles.needsTrust, timeout=30_000):
        click(qtbot, dialog.replace_button)
    fingerprint = bundle.keys(Store.open(small_demo)).signing_key
    assert dialog.trust_button.isVisible() and fingerprint in dialog.trust_label.text()
    save_screenshot(dialog, "bundle-trust", tmp_path)
    with qtbot.waitSignal(st.matrixShown, timeout=30_000):
        click(qtbot, dialog.trust_button)
    assert "Imported out.otab: bundle 1" in dialog.message.text()
    hq_store = Store.open(small_demo)
    from ota_desktop.queries import matrix_for

    assert st.matrix.total == matrix_for(hq_store, "default", "main",
                                         hq_store.configuration()).total  # HQ's, on screen
    assert Store.open(station).device_count() == hq_store.device_count() == 981
    keys = bundle.keys(Store.open(station))
    assert keys.station_name == "line 3" and keys.trusted_project == fingerprint


def test_the_release_editor_says_whether_payloads_will_be_signed(main_window, small_demo,
                                                                 qtbot) -> None:
    window = main_window(small_demo)
    editor = window.open_release_editor()
    assert not editor.signing_note.isVisible()  # no key: nothing to say
    editor.reject()
    window.controller.service().create_signing_key(PASS)
    editor = window.open_release_editor()
    assert "locked" in editor.signing_note.text() and editor.signing_note.isVisible()
    editor.reject()
    window.controller.signer = window.controller.service().signing_key(PASS)
    editor = window.open_release_editor()
    assert "are signed" in editor.signing_note.text()
