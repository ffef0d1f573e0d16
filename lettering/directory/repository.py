"""All of the directory's SQL, the snapshot's full read included."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from datetime import date
from typing import TypeVar

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from lettering.core.db import table_of
from lettering.directory.models import (
    DirectoryAgency,
    DirectoryDepartment,
    DirectoryExtension,
    DirectoryFreeze,
)

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


async def agency_by_id(session: AsyncSession, agency_id: int) -> DirectoryAgency | None:
    return await session.get(DirectoryAgency, agency_id)


async def department_by_id(session: AsyncSession, department_id: int) -> DirectoryDepartment | None:
    return await session.get(DirectoryDepartment, department_id)


async def extensions_calling_with_suffix(
    session: AsyncSession, last_digits: str
) -> Sequence[Row[DirectoryExtension, DirectoryDepartment, DirectoryAgency]]:
    """(extension, department, agency) of each extension whose caller number ends with these
    digits (a cheap pre-filter: the caller compares the numbers in E.164), in directory order."""
    rows = await session.execute(
        select(DirectoryExtension, DirectoryDepartment, DirectoryAgency)
        .join(DirectoryDepartment, col(DirectoryDepartment.id) == col(DirectoryExtension.department_id))
        .join(DirectoryAgency, col(DirectoryAgency.id) == col(DirectoryExtension.agency_id))
        .where(col(DirectoryExtension.caller_number).like(f"%{last_digits}"))
        .order_by(col(DirectoryAgency.id), col(DirectoryDepartment.id), col(DirectoryExtension.id))
    )
    return rows.all()


# -- the snapshot's full read: plain columns (no ORM objects: they cost ~10x more per row) --------

_AGENCY, _DEPARTMENT, _EXTENSION, _FREEZE = (
    table_of(DirectoryAgency).c,
    table_of(DirectoryDepartment).c,
    table_of(DirectoryExtension).c,
    table_of(DirectoryFreeze).c,
)
# AgencyView's fields, in order.
_ALL_AGENCIES = select(
    _AGENCY.id,
    _AGENCY.code,
    _AGENCY.name,
    _AGENCY.default_guidance,
    _AGENCY.enabled,
    _AGENCY.fallback_unsupported,
    _AGENCY.fallback_no_subscriber,
    _AGENCY.fallback_carrier_failure,
    _AGENCY.fallback_shed,
    _AGENCY.holdout_bp,
    _AGENCY.identity_only_bp,
    _AGENCY.holdout_salt,
)
_ALL_DEPARTMENTS = select(
    _DEPARTMENT.id,
    _DEPARTMENT.code,
    _DEPARTMENT.name,
    _DEPARTMENT.guidance,
    _DEPARTMENT.holdout_bp,
    _DEPARTMENT.identity_only_bp,
)
_ALL_FREEZES = select(
    _FREEZE.id, _FREEZE.agency_id, _FREEZE.starts_on, _FREEZE.ends_on, _FREEZE.reason
).order_by(_FREEZE.agency_id, _FREEZE.starts_on, _FREEZE.id)
_ALL_EXTENSIONS = select(
    _EXTENSION.agency_id,
    _EXTENSION.extension,
    _EXTENSION.department_id,
    _EXTENSION.team_name,
    _EXTENSION.caller_number,
)


async def all_agency_rows(
    session: AsyncSession,
) -> Sequence[Row[int, str, str, str, bool, bool, bool, bool, bool, int, int, str]]:
    """(id, code, name, default_guidance, enabled, fallback_unsupported, fallback_no_subscriber,
    fallback_carrier_failure, fallback_shed, holdout_bp, identity_only_bp, holdout_salt) of every agency."""
    return (await session.execute(_ALL_AGENCIES)).all()


async def all_department_rows(
    session: AsyncSession,
) -> Sequence[Row[int, str, str, str, int | None, int | None]]:
    """(id, code, name, guidance, holdout_bp, identity_only_bp) of every department."""
    return (await session.execute(_ALL_DEPARTMENTS)).all()


async def all_freeze_rows(session: AsyncSession) -> Sequence[Row[int, int, date, date, str]]:
    """(id, agency_id, starts_on, ends_on, reason) of every promo freeze, by agency and start."""
    return (await session.execute(_ALL_FREEZES)).all()


async def freezes_of(session: AsyncSession, agency_id: int) -> list[DirectoryFreeze]:
    """The agency's promo freezes, by start."""
    rows = await session.execute(
        select(DirectoryFreeze)
        .where(col(DirectoryFreeze.agency_id) == agency_id)
        .order_by(col(DirectoryFreeze.starts_on), col(DirectoryFreeze.id))
    )
    return list(rows.scalars())


async def freezes_overlapping(
    session: AsyncSession, agency_id: int, starts_on: date, ends_on: date
) -> list[DirectoryFreeze]:
    """The agency's promo freezes that share at least one day with [starts_on, ends_on]."""
    rows = await session.execute(
        select(DirectoryFreeze)
        .where(
            col(DirectoryFreeze.agency_id) == agency_id,
            col(DirectoryFreeze.starts_on) <= ends_on,
            col(DirectoryFreeze.ends_on) >= starts_on,
        )
        .order_by(col(DirectoryFreeze.starts_on), col(DirectoryFreeze.id))
    )
    return list(rows.scalars())


async def departments_with_holdout(session: AsyncSession, agency_id: int) -> list[DirectoryDepartment]:
    """The agency's departments with shares of their own, by code."""
    rows = await session.execute(
        select(DirectoryDepartment)
        .where(
            col(DirectoryDepartment.agency_id) == agency_id,
            col(DirectoryDepartment.holdout_bp).is_not(None)
            | col(DirectoryDepartment.identity_only_bp).is_not(None),
        )
        .order_by(col(DirectoryDepartment.code))
    )
    return list(rows.scalars())


async def freeze_by_id(session: AsyncSession, freeze_id: int) -> DirectoryFreeze | None:
    return await session.get(DirectoryFreeze, freeze_id)


async def add_freeze(session: AsyncSession, freeze: DirectoryFreeze) -> DirectoryFreeze:
    session.add(freeze)
    await session.flush()
    return freeze


async def delete_freeze(session: AsyncSession, freeze: DirectoryFreeze) -> None:
    await session.delete(freeze)
    await session.flush()


async def all_extension_rows(session: AsyncSession) -> Sequence[Row[int, str, int, str, str]]:
    """(agency_id, extension, department_id, team_name, caller_number) of every extension."""
    return (await session.execute(_ALL_EXTENSIONS)).all()


# -- one agency's directory, for the console ---------------------------------------------------


async def agency_extensions_with_departments(
    session: AsyncSession, agency_id: int
) -> Sequence[Row[DirectoryExtension, DirectoryDepartment]]:
    """(extension, its department) of every extension of the agency, by department then extension."""
    rows = await session.execute(
        select(DirectoryExtension, DirectoryDepartment)
        .join(DirectoryDepartment, col(DirectoryDepartment.id) == col(DirectoryExtension.department_id))
        .where(col(DirectoryExtension.agency_id) == agency_id)
        .order_by(col(DirectoryDepartment.code), col(DirectoryExtension.extension))
    )
    return rows.all()


async def departments_of_agency(session: AsyncSession, agency_id: int) -> Sequence[DirectoryDepartment]:
    """Every department of the agency, by code."""
    rows = await session.execute(
        select(DirectoryDepartment)
        .where(col(DirectoryDepartment.agency_id) == agency_id)
        .order_by(col(DirectoryDepartment.code))
    )
    return rows.scalars().all()


async def all_agencies(session: AsyncSession) -> Sequence[DirectoryAgency]:
    """Every agency, by name."""
    rows = await session.execute(select(DirectoryAgency).order_by(col(DirectoryAgency.name)))
    return rows.scalars().all()
