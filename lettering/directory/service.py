"""The directory's public face: other packages import this module only, as
`from lettering.directory import service as directory_service`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from lettering.core.db import utcnow
from lettering.core.phone import NotAPhoneNumber, to_e164_kr
from lettering.directory import repository
from lettering.directory.errors import DirectoryConflict
from lettering.directory.importer import (
    COLUMNS,
    AgencyRow,
    Counts,
    DepartmentRow,
    ExtensionRow,
    ImportSummary,
    ParsedDirectory,
    RowError,
    apply_directory,
    import_directory,
    parse_directory,
)
from lettering.directory.models import DirectoryFreeze
from lettering.directory.snapshot import (
    SNAPSHOT_NAME,
    AgencyView,
    DirectorySnapshot,
    ExtensionView,
    FreezeView,
    build_directory_snapshot,
    guidance_for,
)
from lettering.snapshots.service import bump


async def agency_id_for_code(session: AsyncSession, code: str) -> int | None:
    """The id of the agency with this code, or None."""
    agency = (await repository.agencies_by_code(session, [code])).get(code)
    return agency.id if agency is not None else None


POLICY_FIELDS = (
    "enabled",
    "fallback_unsupported",
    "fallback_no_subscriber",
    "fallback_carrier_failure",
    "fallback_shed",
    "default_guidance",
)


async def set_agency_policy(session: AsyncSession, code: str, **changes: object) -> dict[str, object] | None:
    """Change an agency's switches (enabled, fallback policy, default guidance); its new values, or None.

    Bumps the directory snapshot in the same transaction, so every worker applies it within seconds.
    """
    unknown = set(changes) - set(POLICY_FIELDS)
    if unknown:
        raise ValueError(f"not an agency setting: {', '.join(sorted(unknown))}")
    agency = (await repository.agencies_by_code(session, [code])).get(code)
    if agency is None:
        return None
    for name, value in changes.items():
        setattr(agency, name, value)
    if changes:
        agency.updated_at = utcnow()
        await bump(session, SNAPSHOT_NAME)
    await session.flush()
    return {name: getattr(agency, name) for name in POLICY_FIELDS}


async def names(session: AsyncSession, agency_id: int, department_id: int | None) -> tuple[str, str | None]:
    """(agency name, department name or None) for pages citizens read."""
    snapshot_agency = await repository.agency_by_id(session, agency_id)
    department = (
        await repository.department_by_id(session, department_id) if department_id is not None else None
    )
    return (snapshot_agency.name if snapshot_agency else ""), (department.name if department else None)


async def department_guidance(session: AsyncSession, agency_id: int, department_id: int | None) -> str:
    """The guidance a call from this department shows: its own, else the agency default."""
    department = (
        await repository.department_by_id(session, department_id) if department_id is not None else None
    )
    if department is not None and department.guidance:
        return department.guidance
    agency = await repository.agency_by_id(session, agency_id)
    return agency.default_guidance if agency else ""


@dataclass(frozen=True, slots=True)
class CallerNumberMatch:
    """A department of the directory that calls out with a given number (public information)."""

    agency_id: int
    agency_code: str
    agency_name: str
    department_id: int
    department_name: str
    team_name: str


async def caller_number_matches(session: AsyncSession, e164: str) -> list[CallerNumberMatch]:
    """Who calls with this number (E.164), by the directory's published caller numbers.

    The directory keeps numbers as published ('031-5180-2114'); both sides are compared in
    E.164, after a cheap pre-filter on the last four digits.
    """
    digits = re.sub(r"[^0-9]", "", e164)
    if len(digits) < 4:
        return []
    rows = await repository.extensions_calling_with_suffix(session, digits[-4:])
    found: dict[tuple[int, int], CallerNumberMatch] = {}
    for extension, department, agency in rows:
        try:
            same = to_e164_kr(extension.caller_number) == e164
        except (NotAPhoneNumber, ValueError):
            same = False
        if (
            same
            and agency.id is not None
            and department.id is not None
            and (agency.id, department.id) not in found
        ):
            found[(agency.id, department.id)] = CallerNumberMatch(
                agency.id, agency.code, agency.name, department.id, department.name, extension.team_name
            )
    return list(found.values())


async def agency_codes(session: AsyncSession, ids: list[int]) -> dict[int, str]:
    """Agency id -> code."""
    return await repository.agency_codes_by_id(session, ids)


async def department_for_code(session: AsyncSession, code: str) -> tuple[int, int] | None:
    """(department id, its agency id) of the department with this code, or None."""
    department = (await repository.departments_by_code(session, [code])).get(code)
    if department is None or department.id is None:
        return None
    return department.id, department.agency_id


async def foreign_departments(session: AsyncSession, agency_id: int, ids: list[int]) -> list[int]:
    """The ids among `ids` that are not departments of `agency_id` (unknown ids included)."""
    foreign: list[int] = []
    for department_id in ids:
        department = await repository.department_by_id(session, department_id)
        if department is None or department.agency_id != agency_id:
            foreign.append(department_id)
    return foreign


async def department_codes(session: AsyncSession, ids: list[int]) -> dict[int, str]:
    """Department id -> code."""
    return await repository.department_codes_by_id(session, ids)


# -- holdout arms (the shares decide() reads from the snapshot; the salt is never shown) ---------


@dataclass(frozen=True, slots=True)
class HoldoutShares:
    """Shares in basis points (1/100 %) of calls held out / given identity only."""

    holdout_bp: int
    identity_only_bp: int


@dataclass(frozen=True, slots=True)
class DepartmentShares:
    department_code: str
    department_name: str
    shares: HoldoutShares


@dataclass(frozen=True, slots=True)
class HoldoutSettings:
    agency: HoldoutShares
    departments: tuple[DepartmentShares, ...]  # only those that override the agency's shares


async def holdout_settings(session: AsyncSession, agency_id: int) -> HoldoutSettings:
    """The agency's holdout shares and its departments' overrides."""
    agency = await repository.agency_by_id(session, agency_id)
    assert agency is not None
    overrides = await repository.departments_with_holdout(session, agency_id)
    return HoldoutSettings(
        HoldoutShares(agency.holdout_bp, agency.identity_only_bp),
        tuple(
            DepartmentShares(d.code, d.name, HoldoutShares(d.holdout_bp or 0, d.identity_only_bp or 0))
            for d in overrides
        ),
    )


async def set_agency_holdout(session: AsyncSession, agency_id: int, shares: HoldoutShares) -> None:
    """Change the agency's shares (validated by the caller's schema); every worker applies it
    within seconds (directory snapshot)."""
    agency = await repository.agency_by_id(session, agency_id)
    assert agency is not None
    agency.holdout_bp, agency.identity_only_bp = shares.holdout_bp, shares.identity_only_bp
    agency.updated_at = utcnow()
    await bump(session, SNAPSHOT_NAME)
    await session.flush()


async def set_department_holdout(
    session: AsyncSession, agency_id: int, department_code: str, shares: HoldoutShares | None
) -> DepartmentShares | None:
    """Give a department of this agency its own shares (None: back to the agency's). None when
    the agency has no such department (another agency's is the same as none)."""
    department = (await repository.departments_by_code(session, [department_code])).get(department_code)
    if department is None or department.agency_id != agency_id:
        return None
    department.holdout_bp = shares.holdout_bp if shares is not None else None
    department.identity_only_bp = shares.identity_only_bp if shares is not None else None
    department.updated_at = utcnow()
    await bump(session, SNAPSHOT_NAME)
    await session.flush()
    return DepartmentShares(department.code, department.name, shares or HoldoutShares(0, 0))


async def department_of_agency(session: AsyncSession, agency_id: int, code: str) -> int | None:
    """The id of this agency's department with this code, or None (also for another agency's)."""
    found = await department_for_code(session, code)
    if found is None or found[1] != agency_id:
        return None
    return found[0]


# -- promo freezes (election periods: identity only, emergency campaigns still go) ------------

# 공직선거법 §86 ⑤: from 180 days before an election day to the election day, a local
# government may not publicise its activities (promotional material), save the exceptions the
# article lists. The preset covers exactly that range; the admin may edit it.
ELECTION_FREEZE_DAYS = 180


def election_freeze_range(election_day: date) -> tuple[date, date]:
    """(first day, last day) of the promo freeze before an election (OverflowError at year 1)."""
    return election_day - timedelta(days=ELECTION_FREEZE_DAYS), election_day


@dataclass(frozen=True, slots=True)
class Freeze:
    """A promo freeze of an agency (Seoul dates, both included)."""

    id: int
    agency_id: int
    starts_on: date
    ends_on: date
    reason: str
    election_day: date | None

    @classmethod
    def of(cls, row: DirectoryFreeze) -> Freeze:
        assert row.id is not None
        return cls(row.id, row.agency_id, row.starts_on, row.ends_on, row.reason, row.election_day)


async def list_freezes(session: AsyncSession, agency_id: int) -> list[Freeze]:
    """The agency's promo freezes, by start."""
    return [Freeze.of(row) for row in await repository.freezes_of(session, agency_id)]


async def freeze_overlaps(
    session: AsyncSession, agency_id: int, starts_on: date, ends_on: date
) -> list[Freeze]:
    """The agency's promo freezes sharing a day with [starts_on, ends_on] (for the campaign
    editor's warning: a promo campaign in a freeze is never sent on those days)."""
    rows = await repository.freezes_overlapping(session, agency_id, starts_on, ends_on)
    return [Freeze.of(row) for row in rows]


async def create_freeze(
    session: AsyncSession,
    agency_id: int,
    *,
    starts_on: date,
    ends_on: date,
    reason: str,
    election_day: date | None = None,
) -> Freeze:
    """A new promo freeze (dates checked by the caller's schema); in force within seconds."""
    row = await repository.add_freeze(
        session,
        DirectoryFreeze(
            agency_id=agency_id,
            starts_on=starts_on,
            ends_on=ends_on,
            reason=reason,
            election_day=election_day,
        ),
    )
    await bump(session, SNAPSHOT_NAME)
    return Freeze.of(row)


async def update_freeze(
    session: AsyncSession,
    agency_id: int,
    freeze_id: int,
    *,
    starts_on: date,
    ends_on: date,
    reason: str,
    election_day: date | None = None,
) -> Freeze | None:
    """Change a freeze of this agency; None when it has none with this id."""
    row = await _own_freeze(session, agency_id, freeze_id)
    if row is None:
        return None
    row.starts_on, row.ends_on, row.reason, row.election_day = starts_on, ends_on, reason, election_day
    row.updated_at = utcnow()
    await bump(session, SNAPSHOT_NAME)
    await session.flush()
    return Freeze.of(row)


async def delete_freeze(session: AsyncSession, agency_id: int, freeze_id: int) -> bool:
    """Remove a freeze of this agency; False when it has none with this id."""
    row = await _own_freeze(session, agency_id, freeze_id)
    if row is None:
        return False
    await repository.delete_freeze(session, row)
    await bump(session, SNAPSHOT_NAME)
    return True


async def _own_freeze(session: AsyncSession, agency_id: int, freeze_id: int) -> DirectoryFreeze | None:
    if not 1 <= freeze_id <= MAX_ROW_ID:
        return None
    row = await repository.freeze_by_id(session, freeze_id)
    return row if row is not None and row.agency_id == agency_id else None


# Row ids are INTEGER columns (32 bits on PostgreSQL): a larger id names no row.
MAX_ROW_ID = 2**31 - 1


__all__ = [
    "ELECTION_FREEZE_DAYS",
    "Freeze",
    "FreezeView",
    "HoldoutSettings",
    "HoldoutShares",
    "DepartmentShares",
    "create_freeze",
    "delete_freeze",
    "department_of_agency",
    "election_freeze_range",
    "freeze_overlaps",
    "holdout_settings",
    "list_freezes",
    "set_agency_holdout",
    "set_department_holdout",
    "update_freeze",
    "foreign_departments",
    "CallerNumberMatch",
    "caller_number_matches",
    "department_guidance",
    "names",
    "POLICY_FIELDS",
    "set_agency_policy",
    "agency_codes",
    "agency_id_for_code",
    "department_codes",
    "department_for_code",
    "COLUMNS",
    "SNAPSHOT_NAME",
    "guidance_for",
    "AgencyRow",
    "AgencyView",
    "Counts",
    "DepartmentRow",
    "DirectoryConflict",
    "DirectorySnapshot",
    "ExtensionRow",
    "ExtensionView",
    "ImportSummary",
    "ParsedDirectory",
    "RowError",
    "apply_directory",
    "build_directory_snapshot",
    "import_directory",
    "parse_directory",
]
