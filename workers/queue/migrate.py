"""Applies supabase/migrations/*.sql at start-up, once each, in version order.

What was applied is recorded in ``supabase_migrations.schema_migrations`` (the Supabase
CLI's own table, same columns), so ``supabase db push`` and ClipQueue agree on the state.
Concurrent starters (API workers, worker processes) serialize on an advisory lock.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg.rows import tuple_row

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "supabase" / "migrations"
_FILENAME = re.compile(r"^(\d{14})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x636C6970  # 'clip': one advisory lock id for all migrators


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    sql: str


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILENAME.match(path.name)
        if not match:
            raise ValueError(f"migration file name not <YYYYMMDDHHMMSS>_<name>.sql: {path.name}")
        found.append(Migration(match.group(1), match.group(2), path.read_text()))
    return found


def apply_migrations(conn: psycopg.Connection, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply every migration not yet recorded; return the versions applied now."""
    applied_now = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        conn.execute("CREATE SCHEMA IF NOT EXISTS supabase_migrations")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS supabase_migrations.schema_migrations"
            " (version text PRIMARY KEY, statements text[], name text)"
        )
        cur = conn.cursor(row_factory=tuple_row)
        done = {v for (v,) in cur.execute("SELECT version FROM supabase_migrations.schema_migrations")}
        for migration in discover(directory):
            if migration.version in done:
                continue
            log.info("applying migration %s_%s", migration.version, migration.name)
            conn.execute(migration.sql)
            conn.execute(
                "INSERT INTO supabase_migrations.schema_migrations (version, statements, name)"
                " VALUES (%s, %s, %s)",
                (migration.version, [migration.sql], migration.name),
            )
            applied_now.append(migration.version)
    return applied_now
