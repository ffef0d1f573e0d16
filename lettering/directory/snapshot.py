"""The directory as an immutable in-memory snapshot: (agency, extension) -> who is calling."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from lettering.directory.models import DirectoryAgency, DirectoryDepartment, DirectoryExtension
from lettering.phone import NotAPhoneNumber, to_e164_kr

SNAPSHOT_NAME = "directory"


@dataclass(frozen=True, slots=True)
class AgencyView:
    id: int
    code: str
    name: str
    default_guidance: str
    enabled: bool
    fallback_unsupported: bool
    fallback_no_subscriber: bool
    fallback_carrier_failure: bool


@dataclass(frozen=True, slots=True)
class ExtensionView:
    agency_id: int
    extension: str
    department_id: int
    department_code: str
    department_name: str
    guidance: str  # the department's own guidance; "" when it has none
    team_name: str
    caller_e164: str | None  # the directory's published number, E.164


@dataclass(frozen=True, slots=True)
class DirectorySnapshot:
    agencies: Mapping[int, AgencyView] = field(default_factory=lambda: MappingProxyType({}))
    extensions: Mapping[tuple[int, str], ExtensionView] = field(default_factory=lambda: MappingProxyType({}))

    def extension(self, agency_id: int, extension: str) -> ExtensionView | None:
        return self.extensions.get((agency_id, extension))


def _e164_or_none(raw: str) -> str | None:
    try:
        return to_e164_kr(raw) if raw else None
    except (NotAPhoneNumber, ValueError):
        return None


async def build_directory_snapshot(session: AsyncSession) -> DirectorySnapshot:
    """Read the whole directory (a province platform: ~90k extensions, a few MB) into memory."""
    agencies = {
        a.id: AgencyView(
            id=a.id,
            code=a.code,
            name=a.name,
            default_guidance=a.default_guidance,
            enabled=a.enabled,
            fallback_unsupported=a.fallback_unsupported,
            fallback_no_subscriber=a.fallback_no_subscriber,
            fallback_carrier_failure=a.fallback_carrier_failure,
        )
        for a in (await session.execute(select(DirectoryAgency))).scalars()
        if a.id is not None
    }
    departments = {d.id: d for d in (await session.execute(select(DirectoryDepartment))).scalars()}
    extensions: dict[tuple[int, str], ExtensionView] = {}
    for e in (await session.execute(select(DirectoryExtension))).scalars():
        dept = departments[e.department_id]
        extensions[(e.agency_id, e.extension)] = ExtensionView(
            agency_id=e.agency_id,
            extension=e.extension,
            department_id=e.department_id,
            department_code=dept.code,
            department_name=dept.name,
            guidance=dept.guidance,
            team_name=e.team_name,
            caller_e164=_e164_or_none(e.caller_number),
        )
    return DirectorySnapshot(agencies=MappingProxyType(agencies), extensions=MappingProxyType(extensions))
