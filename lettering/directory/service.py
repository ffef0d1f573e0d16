"""The directory's public face: other packages import this module only, as
`from lettering.directory import service as directory_service`.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

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


async def agency_id_for_code(session: AsyncSession, code: str) -> int | None:
    """The id of the agency with this code, or None."""
    agency = (await repository.agencies_by_code(session, [code])).get(code)
    return agency.id if agency is not None else None


async def agency_codes(session: AsyncSession, ids: list[int]) -> dict[int, str]:
    """Agency id -> code."""
    return await repository.agency_codes_by_id(session, ids)


__all__ = [
    "agency_codes",
    "agency_id_for_code",
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
