"""The directory's public face: other packages import this module only, as
`from lettering.directory import service as directory_service`.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from lettering.db import utcnow
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


async def agency_codes(session: AsyncSession, ids: list[int]) -> dict[int, str]:
    """Agency id -> code."""
    return await repository.agency_codes_by_id(session, ids)


async def department_for_code(session: AsyncSession, code: str) -> tuple[int, int] | None:
    """(department id, its agency id) of the department with this code, or None."""
    department = (await repository.departments_by_code(session, [code])).get(code)
    if department is None or department.id is None:
        return None
    return department.id, department.agency_id


async def department_codes(session: AsyncSession, ids: list[int]) -> dict[int, str]:
    """Department id -> code."""
    return await repository.department_codes_by_id(session, ids)


__all__ = [
    "POLICY_FIELDS",
    "set_agency_policy",
    "agency_codes",
    "agency_id_for_code",
    "department_codes",
    "department_for_code",
    "COLUMNS",
    "SNAPSHOT_NAME",
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
