"""`lettering db backup`: on PostgreSQL it names pg_dump/pg_restore for the configured database
(never its password) and exits 1; on SQLite it refuses what it cannot back up, saying why."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lettering.cli import app
from lettering.core.settings import get_settings

Backup = Callable[..., tuple[int, str]]

PG_URL = "postgresql+asyncpg://lettering:pa55-w0rd@db.city.example:5432/lettering"


@pytest.fixture
def backup(monkeypatch: pytest.MonkeyPatch) -> Iterator[Backup]:
    def run(database_url: str, *args: str) -> tuple[int, str]:
        monkeypatch.setenv("LETTERING_ENV", "dev")
        monkeypatch.setenv("LETTERING_DATABASE_URL", database_url)
        get_settings.cache_clear()
        result = CliRunner().invoke(app, ["db", "backup", *args])
        return result.exit_code, result.output

    yield run
    get_settings.cache_clear()


def test_postgresql_prints_pg_dump_and_pg_restore_without_the_password(
    backup: Backup, tmp_path: Path
) -> None:
    target = tmp_path / "lettering.dump"
    code, output = backup(PG_URL, str(target))
    assert code == 1
    dsn = "postgresql://lettering@db.city.example:5432/lettering"
    assert f"pg_dump --format=custom --file='{target}' '{dsn}'" in output
    assert f"pg_restore --clean --if-exists --no-owner --exit-on-error --dbname='{dsn}' '{target}'" in output
    assert "pa55-w0rd" not in output
    assert not target.exists()


def test_an_existing_file_is_not_overwritten(backup: Backup, tmp_path: Path) -> None:
    database = tmp_path / "lettering.db"
    database.write_bytes(b"")
    target = tmp_path / "backup.db"
    target.write_bytes(b"an earlier backup")
    code, output = backup(f"sqlite+aiosqlite:///{database}", str(target))
    assert code == 1
    assert f"{target}: already exists" in output
    assert target.read_bytes() == b"an earlier backup"


def test_an_in_memory_database_is_refused(backup: Backup, tmp_path: Path) -> None:
    code, output = backup("sqlite+aiosqlite:///:memory:", str(tmp_path / "backup.db"))
    assert code == 1
    assert "in-memory SQLite database has no file" in output


def test_a_missing_database_file_is_refused(backup: Backup, tmp_path: Path) -> None:
    code, output = backup(f"sqlite+aiosqlite:///{tmp_path / 'nowhere.db'}", str(tmp_path / "backup.db"))
    assert code == 1
    assert "nowhere.db: no such database file" in output
