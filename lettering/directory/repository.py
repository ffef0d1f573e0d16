"""All of the directory's SQL (the snapshot's full read lives in snapshot.py)."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from typing import TypeVar

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from lettering.directory.models import DirectoryAgency, DirectoryDepartment, DirectoryExtension

# Bound parameters per IN list: well under SQLite's (32766) and asyncpg's (32767) limits.
CHUNK = 1000

T = TypeVar("T")


def _chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def agencies_by_code(session: AsyncSession, codes: Collection[str]) -> dict[str, DirectoryAgency]:
    found: dict[str, DirectoryAgency] = {}
    for chunk in _chunks(sorted(codes)):
        rows = await session.execute(select(DirectoryAgency).where(col(DirectoryAgency.code).in_(chunk)))
        found.update((a.code, a) for a in rows.scalars())
    return found


async def departments_by_code(
    session: AsyncSession, codes: Collection[str]
) -> dict[str, DirectoryDepartment]:
    found: dict[str, DirectoryDepartment] = {}
    for chunk in _chunks(sorted(codes)):
        rows = await session.execute(
            select(DirectoryDepartment).where(col(DirectoryDepartment.code).in_(chunk))
        )
        found.update((d.code, d) for d in rows.scalars())
    return found


async def extensions_of_agencies(
    session: AsyncSession, agency_ids: Collection[int]
) -> dict[tuple[int, str], DirectoryExtension]:
    """Every extension of these agencies, by (agency_id, extension)."""
    found: dict[tuple[int, str], DirectoryExtension] = {}
    for chunk in _chunks(sorted(agency_ids)):
        rows = await session.execute(
            select(DirectoryExtension).where(col(DirectoryExtension.agency_id).in_(chunk))
        )
        found.update(((e.agency_id, e.extension), e) for e in rows.scalars())
    return found


async def delete_extensions(session: AsyncSession, ids: Collection[int]) -> None:
    for chunk in _chunks(sorted(ids)):
        await session.execute(delete(DirectoryExtension).where(col(DirectoryExtension.id).in_(chunk)))


async def agency_codes_by_id(session: AsyncSession, ids: Collection[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    for chunk in _chunks(sorted(ids)):
        rows = await session.execute(
            select(DirectoryAgency.id, DirectoryAgency.code).where(col(DirectoryAgency.id).in_(chunk))  # type: ignore[call-overload]
        )
        found.update((agency_id, code) for agency_id, code in rows.all())
    return found


async def department_codes_by_id(session: AsyncSession, ids: Collection[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    for chunk in _chunks(sorted(ids)):
        rows = await session.execute(
            select(DirectoryDepartment.id, DirectoryDepartment.code).where(  # type: ignore[call-overload]
                col(DirectoryDepartment.id).in_(chunk)
            )
        )
        found.update((department_id, code) for department_id, code in rows.all())
    return found


async def insert_extensions(session: AsyncSession, rows: Sequence[DirectoryExtension]) -> None:
    """Insert new extensions in one executemany (add() would fetch each id: one statement a row on SQLite)."""
    if rows:
        await session.execute(insert(DirectoryExtension), [row.model_dump(exclude={"id"}) for row in rows])
