"""The directory's public face: other packages import this module only, as
`from lettering.directory import service as directory_service`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import secrets
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from carriers import kt, lgu, skt
from carriers.text import VERIFY_LABEL, fit_text
from lettering.core.db import utcnow
from lettering.core.errors import NotFound
from lettering.core.phone import NotAPhoneNumber, to_e164_kr
from lettering.core.templates import particle_for
from lettering.directory import repository
from lettering.directory.errors import DirectoryConflict, DirectoryInvalid
from lettering.directory.importer import (
    COLUMN_LABELS,
    COLUMNS,
    GUIDANCE_MAX,
    AgencyRow,
    Counts,
    DepartmentRow,
    DirectoryFile,
    ExtensionRow,
    ImportSummary,
    ParsedDirectory,
    RowError,
    apply_directory,
    hidden_characters,
    import_directory,
    parse_directory,
    read_directory,
)
from lettering.directory.models import DirectoryAgency, DirectoryFreeze
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


# -- the console's directory area: search, guidance, CSV export and import with a preview ------
#
# Who may do what is the console's to check (lettering/console/directory.py, with the users'
# roles); these functions take the one agency the caller acts on and never read another's rows.

# What each carrier shows of the guidance: its field's limit less the call's verify code
# (" 확인코드 A1B2C3", lettering.verify CODE_LENGTH characters), as `guidance_with_code` fits it.
_VERIFY_ROOM = len(f" {VERIFY_LABEL} ") + 6
GUIDANCE_ROOM = {
    "SKT": skt.MESSAGE_LIMIT - _VERIFY_ROOM,
    "KT": kt.GUIDE_TEXT_LIMIT - _VERIFY_ROOM,
    "LG U+": lgu.BODY_LIMIT - _VERIFY_ROOM,
}
PER_PAGE = 50
PENDING_TTL = timedelta(hours=1)
MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # a city's 4,000 extensions are ~400 kB
SHOWN_CHANGES = 500  # rows of each kind a preview lists; the rest are counted, never hidden unsaid


def clean_guidance(text: str) -> str:
    """The phrase as stored: NFC (as carriers count it), without surrounding spaces."""
    return unicodedata.normalize("NFC", text).strip()


def guidance_problems(text: str, *, agency_default: bool = False) -> list[str]:
    """Why this phrase (already `clean_guidance`d) cannot be saved, in Korean; [] when it can.
    An empty department phrase is fine: the department then shows the agency default."""
    problems: list[str] = []
    if not text and agency_default:
        problems.append("기관 기본 안내 문구는 비워 둘 수 없습니다. 부서에 문구가 없을 때 이 문구가 나갑니다")
    if len(text) > GUIDANCE_MAX:
        problems.append(f"안내 문구가 {len(text)}자입니다. {GUIDANCE_MAX}자 이하로 줄여 주세요")
    bad = hidden_characters(text)
    if bad:
        problems.append(
            "안내 문구에 줄바꿈이나 보이지 않는 제어 문자가 있습니다 ("
            + ", ".join(bad[:5])
            + "). 한 줄의 글자로만 적어 주세요"
        )
    return problems


def guidance_warnings(text: str) -> list[str]:
    """What each carrier will cut of this phrase, in Korean (saving it is still allowed)."""
    out: list[str] = []
    for carrier, room in GUIDANCE_ROOM.items():
        fitted, cut = fit_text(text, room)
        if cut:
            out.append(
                f"{carrier}: 안내 문구가 {room}자(확인코드 자리를 뺀 길이)를 넘어"
                f" 「{fitted}」처럼 잘려 보입니다"
            )
    return out


@dataclass(frozen=True, slots=True)
class AgencyInfo:
    id: int
    code: str
    name: str
    default_guidance: str


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    """One extension as the console shows it, with the guidance a call from it shows now."""

    department_code: str
    department_name: str
    parent_unit: str
    team_name: str
    extension: str
    caller_number: str
    guidance: str  # the department's own ("" when it has none)
    guidance_in_force: str
    own_guidance: bool  # whether guidance_in_force is the department's own (else the agency default)


@dataclass(frozen=True, slots=True)
class DirectoryPage:
    """One page of search results: `total` matches in all, `pages` pages of `per_page`."""

    entries: tuple[DirectoryEntry, ...]
    total: int
    page: int
    pages: int
    per_page: int


@dataclass(frozen=True, slots=True)
class DepartmentInfo:
    id: int
    agency_id: int
    code: str
    name: str
    parent_unit: str
    guidance: str
    extensions: tuple[str, ...]


def _agency_info(agency: DirectoryAgency) -> AgencyInfo:
    assert agency.id is not None
    return AgencyInfo(agency.id, agency.code, agency.name, agency.default_guidance)


async def agency_info(session: AsyncSession, agency_id: int) -> AgencyInfo | None:
    agency = await repository.agency_by_id(session, agency_id)
    return _agency_info(agency) if agency is not None else None


async def list_agencies(session: AsyncSession) -> list[AgencyInfo]:
    """Every agency by name (what a platform admin chooses from)."""
    return [_agency_info(a) for a in await repository.all_agencies(session)]


async def agency_entries(session: AsyncSession, agency_id: int) -> list[DirectoryEntry]:
    """Every extension of the agency, by department code then extension."""
    agency = await repository.agency_by_id(session, agency_id)
    default = agency.default_guidance if agency is not None else ""
    return [
        DirectoryEntry(
            department_code=department.code,
            department_name=department.name,
            parent_unit=department.parent_unit,
            team_name=extension.team_name,
            extension=extension.extension,
            caller_number=extension.caller_number,
            guidance=department.guidance,
            guidance_in_force=department.guidance or default,
            own_guidance=bool(department.guidance),
        )
        for extension, department in await repository.agency_extensions_with_departments(session, agency_id)
    ]


def _digits(text: str) -> str:
    digits = re.sub(r"[^0-9]", "", text)
    if text.strip().startswith("+82") or (digits.startswith("82") and len(digits) >= 10):
        digits = "0" + digits[2:]  # +82 31-5180-2114 is 031-5180-2114
    return digits


def matches(entry: DirectoryEntry, query: str) -> bool:
    """Whether the entry answers the query: an extension (its first digits), a caller number in
    any form (031-5180-2114, 0315180…, +82 31 …: its digits anywhere in the number), or a
    department's name, code or team (any part, case ignored)."""
    words = query.strip()
    if not words:
        return True
    digits = _digits(words)
    if digits and re.fullmatch(r"[0-9+\-. ()]+", words):
        return entry.extension.startswith(digits) or digits in _digits(entry.caller_number)
    folded = words.casefold()
    return any(
        folded in value.casefold()
        for value in (entry.department_name, entry.department_code, entry.team_name, entry.parent_unit)
    )


async def search_directory(
    session: AsyncSession, agency_id: int, query: str, page: int = 1, per_page: int = PER_PAGE
) -> DirectoryPage:
    """The agency's extensions that match `query` (`matches`), one page of them."""
    found = [e for e in await agency_entries(session, agency_id) if matches(e, query)]
    pages = max(1, -(-len(found) // per_page))
    page = min(max(page, 1), pages)
    start = (page - 1) * per_page
    return DirectoryPage(tuple(found[start : start + per_page]), len(found), page, pages, per_page)


async def department_info(session: AsyncSession, code: str) -> DepartmentInfo | None:
    """The department with this code (of any agency: the caller checks the scope), or None."""
    department = (await repository.departments_by_code(session, [code])).get(code)
    if department is None or department.id is None:
        return None
    extensions = [
        e.extension
        for e, d in await repository.agency_extensions_with_departments(session, department.agency_id)
        if d.id == department.id
    ]
    return DepartmentInfo(
        department.id,
        department.agency_id,
        department.code,
        department.name,
        department.parent_unit,
        department.guidance,
        tuple(extensions),
    )


async def set_department_guidance(session: AsyncSession, code: str, text: str) -> list[str]:
    """Save a department's own guidance ("" = use the agency default); the carriers' cut warnings.

    Refused (DirectoryInvalid, in Korean) when too long or holding control characters. Bumps the
    directory snapshot in the same transaction, so the next call shows it.
    """
    phrase = clean_guidance(text)
    problems = guidance_problems(phrase)
    if problems:
        raise DirectoryInvalid("guidance refused: " + "; ".join(problems), korean=problems)
    department = (await repository.departments_by_code(session, [code])).get(code)
    if department is None:
        raise NotFound(f"no department {code}", korean="부서를 찾을 수 없습니다")
    if department.guidance != phrase:
        department.guidance = phrase
        department.updated_at = utcnow()
        await bump(session, SNAPSHOT_NAME)
        await session.flush()
    return guidance_warnings(phrase)


async def set_agency_default_guidance(session: AsyncSession, agency_id: int, text: str) -> list[str]:
    """Save the agency's default guidance (never empty); the carriers' cut warnings. Bumps the
    directory snapshot, so the next call from a department without its own phrase shows it."""
    phrase = clean_guidance(text)
    problems = guidance_problems(phrase, agency_default=True)
    if problems:
        raise DirectoryInvalid("guidance refused: " + "; ".join(problems), korean=problems)
    agency = await repository.agency_by_id(session, agency_id)
    if agency is None:
        raise NotFound(f"no agency {agency_id}", korean="기관을 찾을 수 없습니다")
    if agency.default_guidance != phrase:
        agency.default_guidance = phrase
        agency.updated_at = utcnow()
        await bump(session, SNAPSHOT_NAME)
        await session.flush()
    return guidance_warnings(phrase)


# -- CSV export ---------------------------------------------------------------------------------


def directory_csv(agency: AgencyInfo, entries: Sequence[DirectoryEntry]) -> bytes:
    """The import's columns, UTF-8 with BOM and CRLF (what Excel opens as Korean text)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for e in entries:
        writer.writerow(
            (
                agency.code,
                agency.name,
                e.department_code,
                e.department_name,
                e.parent_unit,
                e.team_name,
                e.extension,
                e.caller_number,
                e.guidance,
            )
        )
    return out.getvalue().encode("utf-8-sig")


async def export_directory(session: AsyncSession, agency_id: int) -> tuple[AgencyInfo, bytes]:
    """(the agency, its directory as a CSV file the import reads back unchanged)."""
    agency = await agency_info(session, agency_id)
    if agency is None:
        raise NotFound(f"no agency {agency_id}", korean="기관을 찾을 수 없습니다")
    return agency, directory_csv(agency, await agency_entries(session, agency_id))


async def directory_fingerprint(session: AsyncSession, agency_id: int) -> str:
    """A digest of the agency's directory as the import sees it (a preview is stale once it moves)."""
    return hashlib.sha256((await export_directory(session, agency_id))[1]).hexdigest()


# -- CSV import with a preview ------------------------------------------------------------------

_DIFFED = ("department_code", "department_name", "parent_unit", "team_name", "caller_number", "guidance")


@dataclass(frozen=True, slots=True)
class RowChange:
    """One extension the import adds, changes or removes; `changes` are (column label, old, new)."""

    extension: str
    department_name: str
    line: int | None  # in the file (None: a removed row is not in it)
    changes: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ImportPreview:
    """What applying the file would do, computed before anything is written."""

    encoding: str
    sha256: str
    fingerprint: str  # the agency's directory when the preview was made
    rows: int
    added: tuple[RowChange, ...]
    updated: tuple[RowChange, ...]
    removed: tuple[RowChange, ...]
    unchanged: int
    refusals: tuple[str, ...]  # Korean, each naming its line and column
    notes: tuple[str, ...]  # other changes (the agency's name)

    @property
    def applicable(self) -> bool:
        return not self.refusals

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed or self.notes)


def _refusals(agency: AgencyInfo, parsed: ParsedDirectory) -> list[RowError]:
    """What the file may not do to this agency: rows of another agency."""
    return [
        RowError(
            e.line,
            "agency_code",
            f"{e.agency_code} is not this agency ({agency.code})",
            f"「{e.agency_code}」{particle_for(e.agency_code, '은')} 이 기관의 코드가 아닙니다."
            f" {agency.name}({agency.code})의 행만 올릴 수 있습니다",
        )
        for e in parsed.extensions
        if e.agency_code != agency.code
    ]


async def _foreign_departments(
    session: AsyncSession, agency: AgencyInfo, parsed: ParsedDirectory
) -> list[RowError]:
    """Department codes another agency already uses (codes are unique across agencies)."""
    existing = await repository.departments_by_code(session, [d.code for d in parsed.departments])
    first_line: dict[str, int] = {}
    for e in parsed.extensions:
        first_line.setdefault(e.department_code, e.line)
    return [
        RowError(
            first_line.get(d.code, 2),
            "department_code",
            f"department {d.code} belongs to another agency",
            f"부서 코드 「{d.code}」{particle_for(d.code, '은')} 다른 기관이 이미 쓰고 있습니다."
            " 이 기관의 부서 코드를 적어 주세요",
        )
        for d in parsed.departments
        if d.code in existing and existing[d.code].agency_id != agency.id
    ]


async def preview_import(session: AsyncSession, agency_id: int, data: bytes) -> ImportPreview:
    """What importing `data` into this agency would add, change and remove (by extension), or why
    it cannot be imported (every refused line, with its column); nothing is written."""
    agency = await agency_info(session, agency_id)
    if agency is None:
        raise NotFound(f"no agency {agency_id}", korean="기관을 찾을 수 없습니다")
    entries = await agency_entries(session, agency_id)
    fingerprint = hashlib.sha256(directory_csv(agency, entries)).hexdigest()
    digest = hashlib.sha256(data).hexdigest()
    read = read_directory(data)
    if isinstance(read.result, list):
        refused = read.result
        return ImportPreview(
            read.encoding, digest, fingerprint, 0, (), (), (), 0, tuple(e.in_korean() for e in refused), ()
        )
    parsed = read.result
    refused = _refusals(agency, parsed) + await _foreign_departments(session, agency, parsed)
    refused.sort(key=lambda e: e.line)
    departments = {d.code: d for d in parsed.departments}
    before = {e.extension: e for e in entries}
    added: list[RowChange] = []
    updated: list[RowChange] = []
    unchanged = 0
    for row in parsed.extensions:
        dept = departments[row.department_code]
        new = {
            "department_code": dept.code,
            "department_name": dept.name,
            "parent_unit": dept.parent_unit,
            "team_name": row.team_name,
            "caller_number": row.caller_number,
            "guidance": dept.guidance,
        }
        old = before.get(row.extension)
        if old is None:
            added.append(RowChange(row.extension, dept.name, row.line))
            continue
        changes = tuple(
            (COLUMN_LABELS[name], getattr(old, name), new[name])
            for name in _DIFFED
            if getattr(old, name) != new[name]
        )
        if changes:
            updated.append(RowChange(row.extension, dept.name, row.line, changes))
        else:
            unchanged += 1
    in_file = {row.extension for row in parsed.extensions}
    removed = [RowChange(e.extension, e.department_name, None) for e in entries if e.extension not in in_file]
    notes = [
        f"기관명이 「{agency.name}」에서 「{a.name}」{particle_for(a.name, '으로')} 바뀝니다"
        for a in parsed.agencies
        if a.code == agency.code and a.name != agency.name
    ]
    return ImportPreview(
        read.encoding,
        digest,
        fingerprint,
        len(parsed.extensions),
        tuple(added),
        tuple(updated),
        tuple(removed),
        unchanged,
        tuple(e.in_korean() for e in refused),
        tuple(notes),
    )


STALE_PREVIEW = (
    "미리보기를 만든 뒤에 조직도가 바뀌었습니다. 적용하지 않았습니다."
    " 파일을 다시 올려 새 미리보기를 확인해 주세요"
)


async def apply_import(session: AsyncSession, agency_id: int, data: bytes, fingerprint: str) -> ImportPreview:
    """Apply exactly the previewed file: its rows become the agency's directory (extensions not in
    it are removed); what was applied. Refused (409) when the directory moved since the preview
    (`fingerprint`), and (422) when the file cannot be imported; all of it or nothing, and the
    snapshot bumped when anything changed."""
    preview = await preview_import(session, agency_id, data)
    if preview.fingerprint != fingerprint:
        raise DirectoryConflict("the directory changed since the preview", korean=STALE_PREVIEW)
    if not preview.applicable:
        raise DirectoryInvalid("the file cannot be imported", korean=list(preview.refusals))
    parsed = read_directory(data).result
    assert isinstance(parsed, ParsedDirectory)
    await apply_directory(session, parsed, prune=True)
    return preview


@dataclass(frozen=True, slots=True)
class PendingImport:
    """An uploaded file kept for its preview's 적용: who uploaded it, for which agency."""

    id: str
    agency_id: int
    user_id: int
    sha256: str
    fingerprint: str
    created_at: datetime
    data: bytes


_PENDING_ID = re.compile(r"[A-Za-z0-9_-]{32}")


class PendingImports:
    """Uploaded files awaiting 적용, on disk under `root` (shared by the workers, like the media),
    each keyed by a random id; a file is only ever given back to its uploader for its agency,
    within `PENDING_TTL`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def save(self, agency_id: int, user_id: int, preview: ImportPreview, data: bytes) -> str:
        """Keep the file; its id (what the preview page's 적용 sends back)."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._sweep()
        pending_id = secrets.token_urlsafe(24)
        meta = {
            "agency_id": agency_id,
            "user_id": user_id,
            "sha256": preview.sha256,
            "fingerprint": preview.fingerprint,
            "created_at": utcnow().isoformat(),
        }
        (self.root / f"{pending_id}.csv").write_bytes(data)
        (self.root / f"{pending_id}.json").write_text(json.dumps(meta), encoding="utf-8")
        return pending_id

    def load(self, pending_id: str, agency_id: int, user_id: int) -> PendingImport | None:
        """The file, unexpired and intact, else None; another user's or agency's file is a 404."""
        if not _PENDING_ID.fullmatch(pending_id):
            return None
        try:
            meta = json.loads((self.root / f"{pending_id}.json").read_text(encoding="utf-8"))
            data = (self.root / f"{pending_id}.csv").read_bytes()
            created_at = datetime.fromisoformat(meta["created_at"])
            owner, uploader = meta["agency_id"], meta["user_id"]
            digest, fingerprint = str(meta["sha256"]), str(meta["fingerprint"])
        except (OSError, ValueError, KeyError, TypeError):
            return None  # gone, or not a file this store wrote
        if owner != agency_id or uploader != user_id:
            # Another agency's or another person's upload looks like one that does not exist.
            raise NotFound("no such preview", korean="요청한 미리보기를 찾을 수 없습니다")
        if utcnow() - created_at > PENDING_TTL or hashlib.sha256(data).hexdigest() != digest:
            return None
        return PendingImport(pending_id, agency_id, user_id, digest, fingerprint, created_at, data)

    def discard(self, pending_id: str) -> None:
        if _PENDING_ID.fullmatch(pending_id):
            for suffix in (".json", ".csv"):
                (self.root / f"{pending_id}{suffix}").unlink(missing_ok=True)

    def _sweep(self) -> None:
        """Remove files older than `PENDING_TTL` (each save sweeps; nothing else needs to)."""
        cutoff = time.time() - PENDING_TTL.total_seconds()
        for path in self.root.iterdir():
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink(missing_ok=True)
            except OSError:
                continue


PHRASE_MAX = GUIDANCE_MAX  # the longest guidance phrase saved (the import's limit, the same)
GuidanceRefused = DirectoryInvalid  # what a refused phrase or file raises (422, in Korean)


def read_directory_file(source: Path | bytes | str) -> DirectoryFile:
    """A directory file decoded (UTF-8 with or without BOM, or CP949) and parsed: the one read
    path of the CLI import and the console's upload."""
    return read_directory(source)
