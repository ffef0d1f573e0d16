"""The directory as an immutable in-memory snapshot: (agency, extension) -> who is calling."""

from __future__ import annotations

import gc
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType

from phonenumbers import NumberParseException
from sqlalchemy.ext.asyncio import AsyncSession

from lettering.core.phone import PLAIN_KR, NotAPhoneNumber, to_e164_kr
from lettering.directory import repository

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
    fallback_shed: bool = False
    # Holdout shares in basis points and the key of the arm's hash (lettering/decision/arms.py).
    holdout_bp: int = 0
    identity_only_bp: int = 0
    holdout_salt: bytes = b""
    # Promo freezes, ordered by start (usually none or one).
    freezes: tuple[FreezeView, ...] = ()

    def freeze_on(self, day: date) -> FreezeView | None:
        """The promo freeze in force on this Seoul date, or None."""
        for freeze in self.freezes:
            if freeze.starts_on <= day <= freeze.ends_on:
                return freeze
        return None


@dataclass(frozen=True, slots=True)
class FreezeView:
    """A promo freeze: no promo campaign from `starts_on` to `ends_on` (Seoul dates, included)."""

    id: int
    starts_on: date
    ends_on: date
    reason: str


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
    # Department id -> its own (holdout_bp, identity_only_bp), for the departments that override
    # their agency's shares (usually none: one dict lookup per call).
    department_arms: Mapping[int, tuple[int, int]] = field(default_factory=lambda: MappingProxyType({}))

    def extension(self, agency_id: int, extension: str) -> ExtensionView | None:
        return self.extensions.get((agency_id, extension))


def guidance_for(agency: AgencyView | None, ext: ExtensionView | None) -> tuple[str, bool]:
    """The guidance phrase a call shows: the department's own, else the agency's default.
    Returns (phrase, whether it is the department's)."""
    if ext is not None and ext.guidance:
        return ext.guidance, True
    return (agency.default_guidance if agency is not None else ""), False


# Korean numbers in the directory's published forms ("031-5180-2114", "02 2133 1234",
# "010-1234-5678") whose E.164 form is "+82" and the digits without the leading 0; every other
# form goes through phonenumbers (60,000 phonenumbers.parse calls alone took ~3 s per rebuild).
# tests/unit/test_directory_snapshot.py checks this agrees with phonenumbers.
_SEPARATORS = str.maketrans("", "", "-. ()")


def _e164_or_none(raw: str) -> str | None:
    if not raw:
        return None
    digits = raw.replace("-", "")  # the published form; str.translate (any separator) is slower
    if not digits.isdigit():
        digits = raw.translate(_SEPARATORS)
    if PLAIN_KR.fullmatch(digits):
        return "+82" + digits[1:]
    try:
        return to_e164_kr(raw)
    except (NotAPhoneNumber, NumberParseException, ValueError):
        return None  # the importer refuses such numbers; a row written otherwise shows none


async def build_directory_snapshot(session: AsyncSession) -> DirectorySnapshot:
    """Read the whole directory (a province platform: ~90k extensions, a few MB) into memory.

    Three Core SELECTs of plain columns (no ORM objects: they cost ~10x more per row); each
    department's strings are shared by its extensions' views.
    """
    freezes: dict[int, list[FreezeView]] = {}
    for freeze_id, agency_id, starts_on, ends_on, reason in await repository.all_freeze_rows(session):
        freezes.setdefault(agency_id, []).append(FreezeView(freeze_id, starts_on, ends_on, reason))
    agencies = {
        # The repository's columns are AgencyView's fields, in order (the salt as hex).
        row[0]: AgencyView(*row[:-1], bytes.fromhex(row[-1]), tuple(freezes.get(row[0], ())))
        for row in await repository.all_agency_rows(session)
    }
    departments: dict[int, tuple[str, str, str]] = {}
    department_arms: dict[int, tuple[int, int]] = {}
    for department_id, code, name, guidance, holdout_bp, identity_bp in await repository.all_department_rows(
        session
    ):
        departments[department_id] = (code, name, guidance)
        if holdout_bp is not None or identity_bp is not None:
            department_arms[department_id] = (holdout_bp or 0, identity_bp or 0)
    rows = await repository.all_extension_rows(session)
    extensions: dict[tuple[int, str], ExtensionView] = {}
    # Hundreds of thousands of new objects and no garbage: in a worker's full heap the cyclic
    # collector ran two full collections per rebuild for nothing, ~40 % of its time (measured
    # 430-540 ms with it, 220-290 ms without). This loop never awaits, so nothing else runs meanwhile.
    collecting = gc.isenabled()
    gc.disable()
    try:
        for agency_id, ext, department_id, team_name, caller_number in rows:
            code, name, guidance = departments[department_id]
            # Positional, in field order: agency_id, extension, department_id, department_code,
            # department_name, guidance, team_name, caller_e164.
            extensions[(agency_id, ext)] = ExtensionView(
                agency_id, ext, department_id, code, name, guidance, team_name, _e164_or_none(caller_number)
            )
    finally:
        if collecting:
            gc.enable()
    return DirectorySnapshot(
        agencies=MappingProxyType(agencies),
        extensions=MappingProxyType(extensions),
        department_arms=MappingProxyType(department_arms),
    )
