"""`lettering outbox list|retry|purge` on a real database."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from kakao_fallback import service as kakao_service
from kakao_fallback.models import KakaoMessage
from lettering.cli import app
from lettering.cli.outbox import OutboxStatus
from lettering.core.db import make_engine, make_sessionmaker, session_scope, utcnow
from lettering.core.phone import make_vault
from lettering.core.settings import get_settings
from lettering.directory.models import DirectoryAgency
from lettering.optout.models import CitizenNumber

pytestmark = pytest.mark.integration


@pytest.fixture
def runner(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("LETTERING_ENV", "dev")
    monkeypatch.setenv("LETTERING_DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def run(database_url: str, work):  # type: ignore[no-untyped-def]
    async def go():  # type: ignore[no-untyped-def]
        engine = make_engine(database_url)
        try:
            async with session_scope(make_sessionmaker(engine)) as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def seed(database_url: str) -> None:
    async def work(session):  # type: ignore[no-untyped-def]
        agency = DirectoryAgency(code="HANBIT", name="한빛특례시", default_guidance="안내")
        session.add(agency)
        await session.flush()
        old = utcnow() - timedelta(days=120)
        for i, (status, error, ciphertext, when) in enumerate(
            [
                (
                    "dead",
                    "template rule broken: body_too_long: 1,043 > 1,000 characters",
                    b"x" * 40,
                    utcnow(),
                ),
                ("dead", "expired", None, utcnow()),
                ("delivered", None, None, old),
                ("queued", None, base64.b64decode("AAAA"), utcnow()),
            ]
        ):
            session.add(
                KakaoMessage(
                    agency_id=agency.id,
                    kind="identity_notice",
                    recipient_hash=f"{i:064x}",
                    recipient_ciphertext=ciphertext,
                    idempotency_key=f"k{i}",
                    status=status,
                    last_error=error,
                    updated_at=when,
                )
            )

    run(database_url, work)


def statuses(database_url: str) -> list[str]:
    async def work(session):  # type: ignore[no-untyped-def]
        return [
            s for (s,) in (await session.execute(select(KakaoMessage.status).order_by(KakaoMessage.id))).all()
        ]

    return run(database_url, work)  # type: ignore[no-any-return]


def test_dead_letters_are_listed_with_their_errors(runner: CliRunner, database_url: str) -> None:
    seed(database_url)
    result = runner.invoke(app, ["outbox", "list", "--status", "dead"])
    assert result.exit_code == 0, result.output
    assert "body_too_long" in result.output
    assert "expired" in result.output
    assert "delivered" not in result.output


def test_retry_requeues_only_what_can_still_be_sent(runner: CliRunner, database_url: str) -> None:
    seed(database_url)
    result = runner.invoke(app, ["outbox", "retry", "1", "2", "3"])
    assert "1 of 3 message(s) queued again" in result.output
    assert statuses(database_url) == ["queued", "dead", "delivered", "queued"]


def test_retry_finds_the_number_a_finished_message_no_longer_keeps(
    runner: CliRunner, database_url: str
) -> None:
    """The relay releases a message's number when it ends; the citizen register still keeps it."""
    seed(database_url)
    sealed = make_vault(get_settings()).seal("+821001234567")

    async def work(session):  # type: ignore[no-untyped-def]
        row = await session.get(KakaoMessage, 2)  # dead ("expired"), number released
        row.recipient_hash = sealed.hash_hex
        session.add(
            CitizenNumber(
                callee_hash=sealed.hash_hex,
                ciphertext=sealed.ciphertext,
                key_version=sealed.key_version,
                last_contact_at=utcnow(),
            )
        )

    run(database_url, work)
    result = runner.invoke(app, ["outbox", "retry", "2"])
    assert "1 of 1 message(s) queued again" in result.output
    assert statuses(database_url) == ["dead", "queued", "delivered", "queued"]

    async def kept(session):  # type: ignore[no-untyped-def]
        return (await session.get(KakaoMessage, 2)).recipient_ciphertext

    assert run(database_url, kept) == sealed.ciphertext


def test_purge_deletes_old_finished_messages_only(runner: CliRunner, database_url: str) -> None:
    seed(database_url)
    result = runner.invoke(app, ["outbox", "purge", "--older-than-days", "90"])
    assert "1 finished message(s) purged" in result.output
    assert statuses(database_url) == ["dead", "dead", "queued"]


def test_list_has_a_header_agency_codes_and_seoul_times(runner: CliRunner, database_url: str) -> None:
    seed(database_url)

    async def work(session):  # type: ignore[no-untyped-def]
        row = await session.get(KakaoMessage, 1)
        row.created_at = datetime(2026, 12, 3, 6, 4, tzinfo=UTC)

    run(database_url, work)
    result = runner.invoke(app, ["outbox", "list"])
    assert result.exit_code == 0, result.output
    header, *lines = result.output.splitlines()
    assert header.split() == [
        "ID",
        "STATUS",
        "KIND",
        "AGENCY",
        "CALL",
        "TO",
        "ATTEMPTS",
        "CREATED",
        "LAST",
        "ERROR",
    ]
    assert len(lines) == 4
    first = next(line for line in lines if line.startswith("1 "))
    assert "HANBIT" in first
    assert "agency=" not in result.output
    assert "2026-12-03 15:04 KST" in first


def test_list_refuses_an_unknown_status_naming_the_valid_ones(runner: CliRunner, database_url: str) -> None:
    result = runner.invoke(app, ["outbox", "list", "--status", "bogus"])
    assert result.exit_code == 2, result.output
    assert "bogus" in result.output
    for status in kakao_service.STATUSES:
        assert status in result.output
    assert tuple(OutboxStatus) == kakao_service.STATUSES  # the choices are the outbox's statuses


def test_retry_of_an_id_that_does_not_exist_says_so_and_exits_1(runner: CliRunner, database_url: str) -> None:
    seed(database_url)
    result = runner.invoke(app, ["outbox", "retry", "1", "999", str(2**63)])
    assert result.exit_code == 1, result.output
    assert f"no message with id 999, {2**63}; nothing was queued" in result.output
    assert statuses(database_url) == ["dead", "dead", "delivered", "queued"]  # 1 was not queued either
