"""Rollout guards and sync: a pause on the server reaches the mirrors, a mirror's resume goes
up (and conflicts with a newer pause), and a pause made by a mirror serving devices goes up
like any edit."""

from __future__ import annotations

from pathlib import Path

from ota_desktop.changes import Resume, SetGuard
from ota_desktop.model import RolloutGuard
from ota_desktop.service import ProjectService
from ota_desktop.store import Store
from ota_desktop.sync import mirror
from tests.core.test_guard import R20, paused, report, serials
from tests.server.test_sync import new_mirror, sync


def test_pause_resume_and_guard_edits_sync_both_ways(start_server, small_demo: Path,
                                                      tmp_path) -> None:
    service = ProjectService(Store.open(small_demo))
    token = service.create_token("desktops", permit_protected=True)
    server = start_server(small_demo)
    desk = new_mirror(tmp_path, "desk", server.url, token)
    sync(desk)

    # a guard set on the desktop goes up
    mirror.apply_local(Store.open(desk), SetGuard(R20, "default", RolloutGuard(failures=2)))
    assert sync(desk).pushed == 1
    server_store = Store.open(small_demo)
    assert next(a.guard for a in server_store.configuration().activations_in("default")
                if a.release == R20) == RolloutGuard(failures=2)

    # the server's devices fail: the server pauses, and the desktop sees it
    report(server_store, serials("DEF-09", 2))
    assert paused(server_store) == "paused by rollout guard: 2 failures ≥ 2"
    assert sync(desk).refreshed
    assert paused(Store.open(desk)) == "paused by rollout guard: 2 failures ≥ 2"

    # one click on the desktop resumes it on the server too
    mirror.apply_local(Store.open(desk), Resume(R20, "default"))
    assert sync(desk).pushed == 1
    assert paused(Store.open(small_demo)) is None

    # a desktop serving devices itself pauses locally; the pause goes up
    desk_store = Store.open(desk)
    report(desk_store, serials("DEF-11", 2))
    assert paused(desk_store) is not None
    [item] = mirror.outbox(desk_store)
    assert item.change["type"] == "Pause" and item.change["reason"].startswith("paused by")
    assert sync(desk).pushed == 1
    assert paused(Store.open(small_demo)) == "paused by rollout guard: 2 failures ≥ 2"


def test_a_resume_based_on_an_older_pause_conflicts_with_a_newer_one(
        start_server, small_demo: Path, tmp_path) -> None:
    service = ProjectService(Store.open(small_demo))
    token = service.create_token("desktops", permit_protected=True)
    service.set_guard(R20, "default", RolloutGuard(failures=1))
    server = start_server(small_demo)
    desk = new_mirror(tmp_path, "desk", server.url, token)
    server_store = Store.open(small_demo)
    report(server_store, ["DEF-09-000001"])
    sync(desk)
    mirror.apply_local(Store.open(desk), Resume(R20, "default"))  # queued, not sent yet
    service.resume(R20, "default")  # meanwhile someone resumed, and it paused again
    report(server_store, ["DEF-09-000002"])
    result = sync(desk)
    assert result.conflicts == 1  # the user decides, with both versions in front of them
    assert paused(Store.open(small_demo)) is not None
