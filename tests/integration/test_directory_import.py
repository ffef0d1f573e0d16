"""import_directory on a migrated database: the real file, re-imports, edits, absent rows, atomicity."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lettering.core.db import session_scope
from lettering.directory import service as directory_service
from lettering.directory.models import DirectoryAgency, DirectoryDepartment, DirectoryExtension
from lettering.directory.service import AgencyRow, Counts, ExtensionRow, ImportSummary, ParsedDirectory
from lettering.snapshots.service import read_versions

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[2] / "data" / "directory.csv"
TEXT = DATA.read_text(encoding="utf-8")
ROWS = list(csv.DictReader(io.StringIO(TEXT, newline="")))
N_AGENCIES = len({r["agency_code"] for r in ROWS})
N_DEPARTMENTS = len({r["department_code"] for r in ROWS})
N_EXTENSIONS = len(ROWS)


def parse(text: str = TEXT) -> ParsedDirectory:
    result = directory_service.parse_directory(text)
    assert isinstance(result, ParsedDirectory), [str(e) for e in result[:5]]
    return result


async def directory_version(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        return (await read_versions(session)).get(directory_service.SNAPSHOT_NAME, 0)


async def count(sessions: async_sessionmaker[AsyncSession], model: type) -> int:
    async with sessions() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


def test_the_file_is_what_these_tests_expect() -> None:
    assert (N_AGENCIES, N_EXTENSIONS) == (2, 4286)


async def test_import_the_real_directory_twice(sessions: async_sessionmaker[AsyncSession]) -> None:
    done: list[int] = []

    first = await directory_service.import_directory(sessions, parse(), done.append)

    assert first == ImportSummary(
        agencies=Counts(added=N_AGENCIES),
        departments=Counts(added=N_DEPARTMENTS),
        extensions=Counts(added=N_EXTENSIONS),
        absent=0,
        pruned=0,
        bumped=True,
    )
    assert done == sorted(done)
    assert done[-1] == N_EXTENSIONS
    assert await count(sessions, DirectoryExtension) == N_EXTENSIONS
    assert await count(sessions, DirectoryDepartment) == N_DEPARTMENTS
    assert await directory_version(sessions) == 1

    second = await directory_service.import_directory(sessions, parse())

    assert second == ImportSummary(
        agencies=Counts(unchanged=N_AGENCIES),
        departments=Counts(unchanged=N_DEPARTMENTS),
        extensions=Counts(unchanged=N_EXTENSIONS),
        absent=0,
        pruned=0,
        bumped=False,
    )
    assert await directory_version(sessions) == 1
    assert second.lines()[-1] == "nothing changed"


async def test_snapshot_holds_the_imported_extension(sessions: async_sessionmaker[AsyncSession]) -> None:
    await directory_service.import_directory(sessions, parse())

    async with sessions() as session:
        snapshot = await directory_service.build_directory_snapshot(session)

    hanbit = next(a for a in snapshot.agencies.values() if a.code == "HANBIT")
    assert hanbit.name == "한빛특례시"
    assert hanbit.default_guidance == "한빛특례시 공식 안내 전화입니다"
    ext = snapshot.extension(hanbit.id, "2114")
    assert ext is not None
    assert (ext.department_code, ext.department_name, ext.team_name) == ("HANBIT-0003", "감사관", "감사6팀")
    assert ext.caller_e164 == "+823151802114"
    assert ext.guidance == ""
    assert len(snapshot.extensions) == N_EXTENSIONS


async def test_one_changed_guidance_updates_one_department(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await directory_service.import_directory(sessions, parse())
    old = "여권·민원 처리 관련 안내 전화입니다"
    assert old in TEXT

    summary = await directory_service.import_directory(
        sessions, parse(TEXT.replace(old, "여권 발급 안내 전화입니다"))
    )

    assert summary.departments == Counts(updated=1, unchanged=N_DEPARTMENTS - 1)
    assert summary.extensions == Counts(unchanged=N_EXTENSIONS)
    assert summary.agencies == Counts(unchanged=N_AGENCIES)
    assert summary.bumped
    assert await directory_version(sessions) == 2
    async with sessions() as session:
        dept = (
            await session.execute(
                select(DirectoryDepartment).where(DirectoryDepartment.code == "HANBIT-0009")
            )
        ).scalar_one()
    assert dept.guidance == "여권 발급 안내 전화입니다"


async def test_changed_extension_and_agency_name(sessions: async_sessionmaker[AsyncSession]) -> None:
    await directory_service.import_directory(sessions, parse())
    text = TEXT.replace(",감사6팀,2114,", ",감사7팀,2114,").replace(",푸른군,", ",푸른시,")

    summary = await directory_service.import_directory(sessions, parse(text))

    assert summary.extensions == Counts(updated=1, unchanged=N_EXTENSIONS - 1)
    assert summary.agencies == Counts(updated=1, unchanged=1)
    assert summary.departments == Counts(unchanged=N_DEPARTMENTS)


async def test_existing_agency_keeps_its_settings(sessions: async_sessionmaker[AsyncSession]) -> None:
    await directory_service.import_directory(sessions, parse())
    async with session_scope(sessions) as session:
        agency = (
            await session.execute(select(DirectoryAgency).where(DirectoryAgency.code == "PUREUN"))
        ).scalar_one()
        agency.default_guidance = "푸른군청입니다"
        agency.enabled = False
        agency.fallback_no_subscriber = False

    summary = await directory_service.import_directory(sessions, parse())

    assert summary.agencies == Counts(unchanged=N_AGENCIES)
    async with sessions() as session:
        agency = (
            await session.execute(select(DirectoryAgency).where(DirectoryAgency.code == "PUREUN"))
        ).scalar_one()
    assert (agency.default_guidance, agency.enabled, agency.fallback_no_subscriber) == (
        "푸른군청입니다",
        False,
        False,
    )


async def test_absent_extensions_are_kept_unless_pruned(sessions: async_sessionmaker[AsyncSession]) -> None:
    await directory_service.import_directory(sessions, parse())
    lines = TEXT.splitlines(keepends=True)
    gone = [line for line in lines if ",2114," in line or ",7000," in line]
    shorter = "".join(line for line in lines if line not in gone)

    kept = await directory_service.import_directory(sessions, parse(shorter))

    assert (kept.absent, kept.pruned, kept.bumped) == (2, 0, False)
    assert kept.extensions == Counts(unchanged=N_EXTENSIONS - 2)
    assert "2 extensions in the database are not in the file (kept; --prune deletes them)" in kept.lines()
    assert await count(sessions, DirectoryExtension) == N_EXTENSIONS

    pruned = await directory_service.import_directory(sessions, parse(shorter), prune=True)

    assert (pruned.absent, pruned.pruned, pruned.bumped) == (2, 2, True)
    assert await count(sessions, DirectoryExtension) == N_EXTENSIONS - 2
    assert await directory_version(sessions) == 2


async def test_prune_leaves_agencies_not_in_the_file_alone(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await directory_service.import_directory(sessions, parse())
    hanbit_only = "".join(line for line in TEXT.splitlines(keepends=True) if not line.startswith("PUREUN,"))

    summary = await directory_service.import_directory(sessions, parse(hanbit_only), prune=True)

    assert (summary.absent, summary.pruned, summary.bumped) == (0, 0, False)
    assert await count(sessions, DirectoryExtension) == N_EXTENSIONS


async def test_a_file_with_one_bad_row_changes_nothing(sessions: async_sessionmaker[AsyncSession]) -> None:
    await directory_service.import_directory(sessions, parse())
    edited = TEXT.replace(",감사6팀,2114,031-5180-2114,", ",감사6팀,2114,not-a-number,").replace(
        "여권·민원 처리 관련 안내 전화입니다", "바뀐 안내"
    )

    result = directory_service.parse_directory(edited)

    assert isinstance(result, list)
    assert [str(e) for e in result] == [
        "line 116: caller_number: 'not-a-number' is not a Korean phone number"
    ]
    assert await directory_version(sessions) == 1


async def test_a_conflict_found_in_the_database_rolls_everything_back(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Department codes are unique across agencies: handing one to another agency is refused, as a whole."""
    await directory_service.import_directory(sessions, parse())
    taken = parse().departments[0]
    moved = ParsedDirectory(
        agencies=(AgencyRow(code="NEWGUN", name="새군"),),
        departments=(replace(taken, agency_code="NEWGUN"),),
        extensions=(
            ExtensionRow(
                line=2,
                agency_code="NEWGUN",
                department_code=taken.code,
                extension="9000",
                team_name="",
                caller_number="031-5180-9000",
            ),
        ),
    )

    with pytest.raises(directory_service.DirectoryConflict, match=f"{taken.code} belongs to agency HANBIT"):
        await directory_service.import_directory(sessions, moved)

    assert await count(sessions, DirectoryAgency) == N_AGENCIES  # NEWGUN, flushed before the check, is gone
    assert await directory_version(sessions) == 1
