from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ota_desktop.errors import NotAProjectFile, RuleViolation, SchemaTooNew
from ota_desktop.model import ReleaseRef
from ota_desktop.service import NewDevice, ProjectService
from ota_desktop.store import Store, migrations


def _project(store: Store) -> ProjectService:
    service = ProjectService(store, actor="alice")
    service.create_project("p", "P")
    service.add_software_type("main")
    service.create_cohort("default", is_default=True)
    service.create_cohort("beta")
    return service


def test_migrations_are_numbered_and_recorded(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "p.db")
    rows = store.db.execute("SELECT number, name FROM _migrations").fetchall()
    assert [r[0] for r in rows] == [n for n, _, _ in migrations.MIGRATIONS]
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()
    Store.open(tmp_path / "p.db").close()  # reopening applies nothing twice


def test_a_newer_schema_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    Store.open(path).close()
    con = sqlite3.connect(path)
    con.execute("INSERT INTO _migrations VALUES (999, 'from the future', 'x')")
    con.commit()
    con.close()
    before = path.read_bytes()
    with pytest.raises(SchemaTooNew, match="newer version"):
        Store.open(path)
    assert path.read_bytes() == before


def test_a_file_that_is_not_a_database_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("hello, this is not sqlite" * 100)
    with pytest.raises(NotAProjectFile, match="not an OTA Desktop project file"):
        Store.open(path)


def test_every_mutation_is_recorded_as_an_operation(store: Store) -> None:
    service = _project(store)
    service.create_release("main", "1.0", revision="abc")
    ops = store.operations()
    assert ops[0]["kind"] == "release.create"
    assert ops[0]["actor"] == "alice"
    assert ops[0]["after"]["version"] == "1.0"
    assert [o["kind"] for o in reversed(ops)] == [
        "project.create", "software_type.create", "cohort.create", "cohort.create",
        "release.create"]


def test_failed_mutation_changes_nothing_and_records_nothing(store: Store) -> None:
    service = _project(store)
    service.create_release("main", "1.0")
    count = len(store.operations())
    with pytest.raises(RuleViolation, match="already exists"):
        service.create_release("main", "1.0")
    with pytest.raises(RuleViolation, match="delta downgrades are not supported"):
        service.create_delta("main", "2.0", "1.0")
    with pytest.raises(RuleViolation):
        service.add_devices([NewDevice("A", "1.0"), NewDevice("A", "1.0")])
    assert len(store.operations()) == count
    assert store.device_count() == 0


def _groups(store: Store, cohort: str) -> Counter[tuple[str, str, bool]]:
    return Counter({(g.version, g.attributes_key, g.staged): g.count
                    for g in store.groups(cohort, "main")})


def _recount(store: Store, cohort: str) -> Counter[tuple[str, str, bool]]:
    return Counter({(g.version, g.attributes_key, g.staged): g.count
                    for g in store.recount_groups(cohort, "main")})


writes = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(1, 30), st.sampled_from(["1.0", "2.0", "x y"]),
                  st.sampled_from(["evt", "dvt"]), st.sampled_from(["default", "beta"])),
        st.tuples(st.just("version"), st.integers(0, 200), st.sampled_from(["1.0", "2.0", "3.0"])),
        st.tuples(st.just("move"), st.integers(0, 200), st.sampled_from(["default", "beta"])),
        st.tuples(st.just("delete"), st.integers(0, 200)),
        st.tuples(st.just("stage"), st.integers(1, 99), st.integers(0, 9)),
    ),
    max_size=12,
)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(writes)
def test_maintained_group_counts_always_equal_a_full_recount(ops: list[tuple]) -> None:
    store = Store.memory()
    service = _project(store)
    service.create_release("main", "2.0")
    ref = ReleaseRef("main", version="2.0")
    staged_once = False
    serial = 0
    for op in ops:
        if op[0] == "add":
            _, n, version, hw, cohort = op
            service.add_devices(NewDevice(f"S{serial + i}", version, cohort,
                                          attributes={"hardware_version": hw}) for i in range(n))
            serial += n
        elif op[0] == "version":
            store.db.execute("UPDATE devices SET current_version = ? WHERE id % 7 = ?",
                             [op[2], op[1] % 7])
        elif op[0] == "move":
            cid = store.cohort_id(op[2])
            store.db.execute("UPDATE devices SET cohort_id = ?, staged = 0 WHERE id % 5 = ?",
                             [cid, op[1] % 5])
        elif op[0] == "delete":
            store.db.execute("DELETE FROM devices WHERE id % 11 = ?", [op[1] % 11])
        elif op[0] == "stage":
            if not staged_once:
                service.activate(ref, "beta", kind="staged", rollout_percent=op[1], seed=op[2])
                staged_once = True
            else:
                service.set_rollout_percent(ref, "beta", op[1], seed=op[2])
        for cohort in ("default", "beta"):
            assert _groups(store, cohort) == _recount(store, cohort)
