"""`lettering db backup FILE` while the service takes setups: the backup restores, and holds every
setup acknowledged before it started.

The service runs on a real socket (the callpath `service` fixture) on SQLite; threads post signed
setups like PBXs do, without pause, before, during and after the backup. The backup is taken by
the command (`lettering db backup`, in a worker thread of the test). The backup file is then opened as
the database: it is at the newest schema, its models match, and every setup answered before the
backup started has its call record in it.

A `pending` answer (the hold-budget timer) and a shed answer (`skipped`/`overloaded`) are sent
before their records are written, by design (DESIGN.md rule 2, admission control): they are not
acknowledgements of a record, so they are not counted. The hold budget is long enough that on a
loaded machine they are rare.

On PostgreSQL the command prints the pg_dump/pg_restore commands instead (test_cli_backup.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from lettering.calls.models import CallRecord
from lettering.cli import app
from lettering.core import migrate
from lettering.core.db import make_engine
from lettering.core.settings import get_settings
from tests.integration.callpath.conftest import Service
from tests.integration.conftest import Templates, _new_database

pytestmark = [pytest.mark.integration, pytest.mark.serial]

log = logging.getLogger(__name__)

POSTERS = 4  # threads posting setups at once
BEFORE = 60  # setups acknowledged before the backup starts
AFTER = 20  # and after it has finished, so the load spans it


@pytest.fixture
async def database_url(tmp_path: Path, templates: Templates) -> AsyncIterator[str]:
    """SQLite only: the online backup is SQLite's (PostgreSQL's tools are pg_dump/pg_restore)."""
    async for url in _new_database("sqlite", tmp_path, templates):
        yield url


@dataclass(frozen=True)
class Ack:
    call_id: str
    answered_at: float  # time.monotonic()


class Load:
    """Threads posting signed setups to the service until stopped; what was acknowledged, when."""

    def __init__(self, service: Service) -> None:
        self._service = service
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.acks: list[Ack] = []
        self.not_counted: list[str] = []  # pending / shed answers
        self.errors: list[str] = []
        self._threads = [threading.Thread(target=self._post, name=f"pbx-{i}") for i in range(POSTERS)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def count(self) -> int:
        with self._lock:
            return len(self.acks)

    def _post(self) -> None:
        with httpx.Client(base_url=self._service.url, timeout=30) as client:
            n = 0
            while not self._stop.is_set():
                n += 1
                # Fictional numbers of every carrier kind of the simulator (spec/carriers.md).
                body = self._service.event(callee_number=f"010-0{n % 900 + 100:03d}-{n % 10000:04d}")
                raw = json.dumps(body, ensure_ascii=False).encode()
                try:
                    response = client.post(
                        "/v1/pbx/events", content=raw, headers=self._service.signed_headers(raw)
                    )
                except httpx.HTTPError as exc:
                    with self._lock:
                        self.errors.append(repr(exc))
                    continue
                answered_at = time.monotonic()
                answer = response.json() if response.status_code == 200 else {}
                with self._lock:
                    if response.status_code != 200:
                        self.errors.append(f"{response.status_code} {response.text[:200]}")
                    elif answer.get("lettering") == "pending" or answer.get("reason") == "overloaded":
                        self.not_counted.append(body["call_id"])
                    else:
                        self.acks.append(Ack(body["call_id"], answered_at))


async def wait_for_acks(load: Load, n: int, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while load.count() < n:
        assert time.monotonic() < deadline, f"only {load.count()} setups acknowledged: {load.errors[:3]}"
        assert not load.errors, load.errors[:3]
        await asyncio.sleep(0.05)


def run_backup(database_url: str, target: Path) -> str:
    """`lettering db backup TARGET`, as an operator runs it (in this process, in a worker thread:
    the copy starts at once, while the service's latest commits are still in the WAL file)."""
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            app,
            ["db", "backup", str(target)],
            env={"LETTERING_ENV": "dev", "LETTERING_DATABASE_URL": database_url},
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    return result.output


async def call_ids(database_url: str) -> set[str]:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(select(CallRecord.call_id))  # type: ignore[call-overload]
            return {row[0] for row in rows}
    finally:
        await engine.dispose()


async def test_a_backup_taken_under_load_restores_every_acknowledged_setup(
    service: Service, database_url: str, tmp_path: Path
) -> None:
    target = tmp_path / "backups" / "lettering-backup.db"
    target.parent.mkdir()

    with Load(service) as load:
        await wait_for_acks(load, BEFORE)
        started = time.monotonic()
        output = await asyncio.to_thread(run_backup, database_url, target)
        finished = time.monotonic()
        done_before = load.count()
        await wait_for_acks(load, done_before + AFTER)

    assert not load.errors, load.errors[:3]
    before = {ack.call_id for ack in load.acks if ack.answered_at < started}
    during = [ack for ack in load.acks if started <= ack.answered_at <= finished]
    after = [ack for ack in load.acks if ack.answered_at > finished]
    assert len(before) >= BEFORE, "the load did not start before the backup"
    assert after, "the load did not go on after the backup"
    assert f"backup written: {target}" in output

    # Restore: a copy of the backup file opened as the database.
    restored = tmp_path / "restored" / "lettering.db"
    restored.parent.mkdir()
    shutil.copyfile(target, restored)
    assert [p.name for p in target.parent.iterdir()] == [target.name], "the backup is not one file"
    restored_url = f"sqlite+aiosqlite:///{restored}"
    await asyncio.to_thread(migrate.check, restored_url)
    held = await call_ids(restored_url)

    missing = before - held
    assert not missing, f"{len(missing)} of {len(before)} acknowledged setups missing from the backup"
    # Setups acknowledged during the copy may or may not be in it.
    log.info(
        f"backup under load: {len(before)} acknowledged before (all restored), {len(during)} during"
        f" the {finished - started:.2f} s backup, {len(after)} after; {len(load.not_counted)} not counted"
    )
