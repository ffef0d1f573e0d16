"""Backups of the database: an online copy on SQLite, the PostgreSQL tools' commands otherwise.

SQLite: `sqlite3.Connection.backup` copies the database page by page through SQLite itself, so
the copy is a consistent snapshot (one read transaction) that includes what is still in the WAL
file, and the service keeps writing meanwhile (in WAL mode a reader blocks no writer). A plain
file copy of the main file would miss the committed transactions not yet checkpointed. The copy
is written beside the target under a temporary name, checked (`PRAGMA integrity_check`) and only
then renamed into place, so a file at the target path is always a whole backup.

PostgreSQL: `pg_dump -Fc` (a consistent snapshot while the service writes) and `pg_restore` are
the tools; `postgresql_commands` spells them out for the configured URL, without its password.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from lettering.core.db import is_sqlite


class BackupRefused(ValueError):
    """The backup cannot be made as asked (the message says why)."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size_bytes: int
    revision: str | None


def sqlite_path(url: str) -> Path:
    """The file of a SQLite URL, or BackupRefused for an in-memory or file-less database."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        raise BackupRefused(f"{database or 'no file'}: an in-memory SQLite database has no file to back up")
    return Path(database)


def backup_sqlite(url: str, target: Path, *, overwrite: bool = False) -> BackupResult:
    """Copy the SQLite database at `url` to `target` online (safe while the service writes)."""
    if not is_sqlite(url):
        raise BackupRefused("an online backup by this command is for SQLite only")
    source_path = sqlite_path(url)
    if not source_path.is_file():
        raise BackupRefused(f"{source_path}: no such database file")
    if target.exists() and not overwrite:
        raise BackupRefused(f"{target}: already exists (choose a new file, or --overwrite)")
    if target.resolve() == source_path.resolve():
        raise BackupRefused(f"{target}: is the database itself")
    if not target.parent.is_dir():
        raise BackupRefused(f"{target.parent}: no such directory")

    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    partial.unlink(missing_ok=True)
    try:
        # The service's busy timeout: a writer holding the lock for a moment is waited for.
        source = sqlite3.connect(source_path, timeout=30)
        try:
            copy = sqlite3.connect(partial)
            try:
                # All pages in one step: one read transaction, a consistent snapshot.
                source.backup(copy)
                (verdict,) = copy.execute("PRAGMA integrity_check").fetchone()
                if verdict != "ok":
                    raise BackupRefused(f"the copy failed its integrity check: {verdict}")
                revision = _revision(copy)
                # The copy is a single self-contained file: no -wal beside it.
                copy.execute("PRAGMA journal_mode=DELETE")
            finally:
                copy.close()
        finally:
            source.close()
        os.replace(partial, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return BackupResult(target, target.stat().st_size, revision)


def _revision(conn: sqlite3.Connection) -> str | None:
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:
        return None
    return None if row is None else str(row[0])


def postgresql_commands(url: str, target: Path) -> tuple[str, str]:
    """The pg_dump and pg_restore commands for `url` (password left out: PGPASSWORD or ~/.pgpass)."""
    given = make_url(url)
    libpq = URL.create(
        "postgresql",
        username=given.username,
        host=given.host,
        port=given.port,
        database=given.database,
        query=given.query,
    )
    dsn = libpq.render_as_string(hide_password=False)
    dump = f"pg_dump --format=custom --file='{target}' '{dsn}'"
    restore = f"pg_restore --clean --if-exists --no-owner --exit-on-error --dbname='{dsn}' '{target}'"
    return dump, restore
