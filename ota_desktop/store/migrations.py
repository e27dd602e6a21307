"""Numbered schema migrations, each applied in its own transaction and recorded in
``_migrations``. A database whose highest recorded migration is newer than this build knows
is refused rather than touched.
"""

from __future__ import annotations

import datetime as dt

from sqlite_utils import Database

from ota_desktop.errors import NotAProjectFile, SchemaTooNew

_GROUP_COLUMNS = "cohort_id, software_type, version, attributes, staged"


def _group_trigger_sql() -> str:
    """Triggers that keep ``device_groups`` equal to a GROUP BY over ``devices`` on every write,
    so the version matrix costs the same for 1K or 1M devices."""

    def add(row: str) -> str:
        return (
            f"INSERT INTO device_groups ({_GROUP_COLUMNS}, count) VALUES ({row}.cohort_id, "
            f"{row}.software_type, {row}.current_version, {row}.attributes, {row}.staged, 1) "
            f"ON CONFLICT ({_GROUP_COLUMNS}) DO UPDATE SET count = count + 1;"
        )

    def remove(row: str) -> str:
        where = (
            f"cohort_id = {row}.cohort_id AND software_type = {row}.software_type AND "
            f"version = {row}.current_version AND attributes = {row}.attributes AND "
            f"staged = {row}.staged"
        )
        return (
            f"UPDATE device_groups SET count = count - 1 WHERE {where};"
            f"DELETE FROM device_groups WHERE {where} AND count <= 0;"
        )

    return f"""
    CREATE TRIGGER devices_group_insert AFTER INSERT ON devices BEGIN {add("NEW")} END;
    CREATE TRIGGER devices_group_delete AFTER DELETE ON devices BEGIN {remove("OLD")} END;
    CREATE TRIGGER devices_group_update
    AFTER UPDATE OF cohort_id, software_type, current_version, attributes, staged ON devices
    BEGIN {remove("OLD")} {add("NEW")} END;
    """


MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "initial schema",
        """
        CREATE TABLE project (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            slug TEXT NOT NULL, name TEXT NOT NULL,
            version_scheme TEXT NOT NULL DEFAULT 'natural',
            allow_build_metadata INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE software_types (name TEXT PRIMARY KEY);
        CREATE TABLE cohorts (
            id INTEGER PRIMARY KEY, slug TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
            is_default INTEGER NOT NULL DEFAULT 0,
            disable_version_checking INTEGER NOT NULL DEFAULT 0,
            protected INTEGER NOT NULL DEFAULT 1,
            polling_interval_s INTEGER NOT NULL DEFAULT 3600
        );
        CREATE TABLE releases (
            id INTEGER PRIMARY KEY, software_type TEXT NOT NULL REFERENCES software_types(name),
            version TEXT NOT NULL, must_pass_through INTEGER NOT NULL DEFAULT 0,
            revision TEXT NOT NULL DEFAULT '', notes TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL, UNIQUE (software_type, version)
        );
        CREATE TABLE delta_releases (
            id INTEGER PRIMARY KEY, software_type TEXT NOT NULL REFERENCES software_types(name),
            from_version TEXT NOT NULL, to_version TEXT NOT NULL,
            revision TEXT NOT NULL DEFAULT '', notes TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL, UNIQUE (software_type, from_version, to_version)
        );
        CREATE TABLE payloads (
            id INTEGER PRIMARY KEY,
            release_id INTEGER REFERENCES releases(id) ON DELETE CASCADE,
            delta_release_id INTEGER REFERENCES delta_releases(id) ON DELETE CASCADE,
            filename TEXT NOT NULL, size INTEGER NOT NULL DEFAULT 0,
            sha256 TEXT NOT NULL DEFAULT '', sha1 TEXT NOT NULL DEFAULT '',
            md5 TEXT NOT NULL DEFAULT '', signature TEXT,
            attributes TEXT NOT NULL DEFAULT '{}',
            CHECK ((release_id IS NULL) != (delta_release_id IS NULL))
        );
        CREATE TABLE activations (
            id INTEGER PRIMARY KEY,
            release_id INTEGER REFERENCES releases(id),
            delta_release_id INTEGER REFERENCES delta_releases(id),
            cohort_id INTEGER NOT NULL REFERENCES cohorts(id),
            kind TEXT NOT NULL CHECK (kind IN ('normal', 'staged')),
            rollout_percent REAL,
            status TEXT NOT NULL CHECK (status IN ('active', 'pulled')),
            activated_by TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
            CHECK ((release_id IS NULL) != (delta_release_id IS NULL))
        );
        CREATE TABLE project_keys (
            id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE,
            cohort_override_id INTEGER REFERENCES cohorts(id)
        );
        CREATE TABLE devices (
            id INTEGER PRIMARY KEY, serial TEXT NOT NULL UNIQUE,
            cohort_id INTEGER NOT NULL REFERENCES cohorts(id),
            software_type TEXT NOT NULL,
            current_version TEXT NOT NULL DEFAULT '',
            attributes TEXT NOT NULL DEFAULT '{}',
            staged INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL, last_seen TEXT
        );
        CREATE INDEX devices_by_group
            ON devices (cohort_id, software_type, current_version, attributes, staged);
        CREATE TABLE device_versions (
            device_id INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
            version TEXT NOT NULL, reported_at TEXT NOT NULL
        );
        CREATE INDEX device_versions_by_device ON device_versions (device_id, reported_at);
        CREATE TABLE device_groups (
            cohort_id INTEGER NOT NULL, software_type TEXT NOT NULL, version TEXT NOT NULL,
            attributes TEXT NOT NULL, staged INTEGER NOT NULL, count INTEGER NOT NULL,
            PRIMARY KEY (cohort_id, software_type, version, attributes, staged)
        ) WITHOUT ROWID;
        CREATE TABLE staging_runs (
            id INTEGER PRIMARY KEY, cohort_id INTEGER NOT NULL REFERENCES cohorts(id),
            activation_id INTEGER REFERENCES activations(id),
            rollout_percent REAL NOT NULL, seed INTEGER NOT NULL,
            cohort_size INTEGER NOT NULL, marked INTEGER NOT NULL, unmarked INTEGER NOT NULL,
            at TEXT NOT NULL
        );
        CREATE TABLE operations (
            id INTEGER PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL,
            kind TEXT NOT NULL, entity TEXT NOT NULL,
            before TEXT, after TEXT
        );
        """
        + _group_trigger_sql(),
    ),
]

MIGRATIONS.append((
    2,
    "device-facing server: hawkBit actions, feedback, target tokens",
    """
    CREATE TABLE ddi_actions (
        serial TEXT NOT NULL, action_id TEXT NOT NULL, release_label TEXT NOT NULL,
        target_version TEXT NOT NULL, payload_id INTEGER, status TEXT NOT NULL DEFAULT 'open',
        created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
        PRIMARY KEY (serial, action_id)
    );
    CREATE TABLE ddi_feedback (
        id INTEGER PRIMARY KEY, serial TEXT NOT NULL, action_id TEXT NOT NULL,
        kind TEXT NOT NULL, execution TEXT NOT NULL, finished TEXT NOT NULL,
        progress TEXT, details TEXT NOT NULL DEFAULT '[]', at TEXT NOT NULL
    );
    CREATE INDEX ddi_feedback_by_serial ON ddi_feedback (serial, at);
    CREATE TABLE target_tokens (serial TEXT PRIMARY KEY, token TEXT NOT NULL UNIQUE);
    """,
))

MIGRATIONS.append((
    3,
    "users and organization auth tokens",
    """
    CREATE TABLE users (
        id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL CHECK (role IN ('reader', 'member', 'manager')),
        created_at TEXT NOT NULL
    );
    CREATE TABLE org_tokens (
        id INTEGER PRIMARY KEY, name TEXT NOT NULL, prefix TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE, permit_protected INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL, revoked_at TEXT
    );
    """,
))

_REV_BUMP = """UPDATE fleet_clock SET rev = rev + 1;
    UPDATE devices SET rev = (SELECT rev FROM fleet_clock) WHERE id = NEW.id;"""

MIGRATIONS.append((
    4,
    "sync: server sequence origin, idempotent pushes, device revisions, mirror outbox",
    f"""
    ALTER TABLE operations ADD COLUMN origin TEXT;
    ALTER TABLE users ADD COLUMN password_hash TEXT;
    ALTER TABLE payloads ADD COLUMN extra TEXT NOT NULL DEFAULT '{{}}';
    CREATE TABLE pushed_changes (
        id TEXT PRIMARY KEY, client TEXT NOT NULL, seq INTEGER NOT NULL, at TEXT NOT NULL,
        digest TEXT NOT NULL DEFAULT ''
    );
    ALTER TABLE devices ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;
    UPDATE devices SET rev = id;
    CREATE INDEX devices_by_rev ON devices (rev);
    CREATE TABLE fleet_clock (id INTEGER PRIMARY KEY CHECK (id = 1), rev INTEGER NOT NULL);
    INSERT INTO fleet_clock VALUES (1, (SELECT coalesce(max(rev), 0) FROM devices));
    CREATE TRIGGER devices_rev_insert AFTER INSERT ON devices WHEN NEW.rev = 0
    BEGIN {_REV_BUMP} END;
    CREATE TRIGGER devices_rev_update
    AFTER UPDATE OF cohort_id, software_type, current_version, attributes, staged ON devices
    BEGIN {_REV_BUMP} END;
    CREATE TABLE sync_link (
        id INTEGER PRIMARY KEY CHECK (id = 1), url TEXT NOT NULL, org TEXT NOT NULL,
        project TEXT NOT NULL, credential TEXT NOT NULL, client TEXT NOT NULL,
        cursor INTEGER NOT NULL DEFAULT 0, fleet_cursor INTEGER NOT NULL DEFAULT 0,
        refreshed_op INTEGER NOT NULL DEFAULT 0, last_sync_at TEXT, last_error TEXT,
        principal TEXT, server_id TEXT, active INTEGER NOT NULL DEFAULT 1
    );
    CREATE TABLE server_identity (id INTEGER PRIMARY KEY CHECK (id = 1), uuid TEXT NOT NULL);
    INSERT INTO server_identity VALUES (1, lower(hex(randomblob(16))));
    CREATE TABLE sync_outbox (
        id INTEGER PRIMARY KEY, uuid TEXT NOT NULL UNIQUE, change TEXT NOT NULL,
        description TEXT NOT NULL, base_revision INTEGER NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending'
            CHECK (state IN ('pending', 'conflict', 'refused', 'pushed', 'discarded')),
        first_op INTEGER, last_op INTEGER, server_seq INTEGER, detail TEXT,
        settled INTEGER NOT NULL DEFAULT 0, sent_at TEXT,
        created_at TEXT NOT NULL, updated_at TEXT NOT NULL
    );
    CREATE TABLE sync_feed (
        seq INTEGER PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL, kind TEXT NOT NULL,
        entity TEXT NOT NULL, origin TEXT
    );
    CREATE INDEX sync_feed_by_entity ON sync_feed (entity, seq);
    CREATE TABLE sync_recheck (
        kind TEXT NOT NULL CHECK (kind IN ('device', 'staged')), name TEXT NOT NULL,
        PRIMARY KEY (kind, name)
    ) WITHOUT ROWID;
    """,
))

MIGRATIONS.append((
    5,
    "payload signing key",
    """
    CREATE TABLE signing_key (
        id INTEGER PRIMARY KEY CHECK (id = 1), algorithm TEXT NOT NULL,
        public_pem TEXT NOT NULL, private_pem TEXT NOT NULL, created_at TEXT NOT NULL
    );
    """,
))

MIGRATIONS.append((
    6,
    "offline bundles: what this file exported, the project a station takes bundles from, the "
    "station's own key, and the stations a project takes check-ins from",
    """
    CREATE TABLE bundle_exports (
        id INTEGER PRIMARY KEY, kind TEXT NOT NULL CHECK (kind IN ('releases', 'checkins')),
        at TEXT NOT NULL, summary TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE bundle_source (
        id INTEGER PRIMARY KEY CHECK (id = 1), project_id TEXT NOT NULL, slug TEXT NOT NULL,
        algorithm TEXT NOT NULL, public_pem TEXT NOT NULL, last_seq INTEGER NOT NULL,
        imported_at TEXT NOT NULL
    );
    CREATE TABLE station_key (
        id INTEGER PRIMARY KEY CHECK (id = 1), name TEXT NOT NULL, algorithm TEXT NOT NULL,
        public_pem TEXT NOT NULL, private_pem TEXT NOT NULL, created_at TEXT NOT NULL
    );
    CREATE TABLE bundle_stations (
        fingerprint TEXT PRIMARY KEY, name TEXT NOT NULL, algorithm TEXT NOT NULL,
        public_pem TEXT NOT NULL, last_seq INTEGER NOT NULL DEFAULT 0,
        trusted_at TEXT NOT NULL, last_import_at TEXT
    );
    CREATE TABLE bundle_imports (
        id INTEGER PRIMARY KEY, kind TEXT NOT NULL, source TEXT NOT NULL, seq INTEGER NOT NULL,
        at TEXT NOT NULL, summary TEXT NOT NULL DEFAULT '{}'
    );
    """,
))

MIGRATIONS.append((
    7,
    "rollout guards: thresholds and pauses on activations, device results per activation",
    """
    ALTER TABLE activations ADD COLUMN guard_failures INTEGER;
    ALTER TABLE activations ADD COLUMN guard_percent REAL;
    ALTER TABLE activations ADD COLUMN guard_min_reports INTEGER;
    ALTER TABLE activations ADD COLUMN guard_since TEXT;
    ALTER TABLE activations ADD COLUMN paused_at TEXT;
    ALTER TABLE activations ADD COLUMN paused_reason TEXT;
    CREATE TABLE guard_reports (
        activation_id INTEGER NOT NULL, serial TEXT NOT NULL,
        reported_at TEXT NOT NULL, failed_at TEXT,
        PRIMARY KEY (activation_id, serial)
    ) WITHOUT ROWID;
    """,
))

MIGRATIONS.append((
    8,
    "a linked mirror keeps its server's public signing key (a station serving from it hands "
    "devices the key their payload signatures verify with)",
    """
    ALTER TABLE sync_link ADD COLUMN signing_algorithm TEXT;
    ALTER TABLE sync_link ADD COLUMN signing_public_pem TEXT;
    """,
))

MIGRATIONS.append((
    9,
    "hawkBit actions remember the cohort that served them (a project key may override the "
    "device's own), so rollout guards count a failure against the activation it came from",
    """
    ALTER TABLE ddi_actions ADD COLUMN cohort_id INTEGER;
    """,
))

LATEST = MIGRATIONS[-1][0]


def applied(db: Database) -> int:
    if "_migrations" not in db.table_names():
        return 0
    row = db.execute("SELECT max(number) FROM _migrations").fetchone()
    return int(row[0] or 0)


def refuse_foreign(db: Database) -> None:
    """Someone else's SQLite file: never add our tables to it."""
    names = db.table_names()
    if names and "_migrations" not in names:
        raise NotAProjectFile("This SQLite file belongs to another program (it holds tables "
                              "but no OTA Desktop schema); choose another file.")


def migrate(db: Database) -> None:
    refuse_foreign(db)
    db.execute(
        "CREATE TABLE IF NOT EXISTS _migrations "
        "(number INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    current = applied(db)
    if current > LATEST:
        raise SchemaTooNew(
            f"This project file uses schema {current}, but this build of OTA Desktop only "
            f"knows up to {LATEST}; open it with a newer version."
        )
    for number, name, sql in MIGRATIONS:
        if number <= current:
            continue
        # executescript runs the whole migration, its record included, as one transaction.
        applied_at = dt.datetime.now(dt.UTC).isoformat()
        try:
            db.conn.executescript(
                f"BEGIN; {sql};"
                f"INSERT INTO _migrations (number, name, applied_at) "
                f"VALUES ({number}, {db.quote(name)}, {db.quote(applied_at)}); COMMIT;"
            )
        except BaseException:
            if db.conn.in_transaction:
                db.conn.rollback()
            raise
