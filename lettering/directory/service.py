"""The directory's public face: other packages import this module only, as
`from lettering.directory import service as directory_service`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
from lettering.directory.snapshot import (
    SNAPSHOT_NAME,
    AgencyView,
    DirectorySnapshot,
    ExtensionView,
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


__all__ = [
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
