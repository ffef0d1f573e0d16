"""Import the telephone directory from a city's CSV export.

Two steps, so a bad file never half-applies: `parse_directory` checks every row and returns
either the whole directory or every error (`line N: field: reason`, lines numbered as in the
file, the header being line 1); `import_directory` then upserts agencies, departments and
extensions in one transaction and bumps the "directory" snapshot when anything changed.
Extensions missing from the file are kept and counted as `absent` unless `prune` is asked for.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import phonenumbers
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lettering.core.db import utcnow
from lettering.core.templates import particle_for
from lettering.directory import repository
from lettering.directory.errors import DirectoryConflict
from lettering.directory.models import DirectoryAgency, DirectoryDepartment, DirectoryExtension
from lettering.directory.snapshot import SNAPSHOT_NAME
from lettering.snapshots import service as snapshot_service

COLUMNS = (
    "agency_code",
    "agency_name",
    "department_code",
    "department_name",
    "parent_unit",
    "team_name",
    "extension",
    "caller_number",
    "guidance",
)
CODE_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")
EXTENSION_RE = re.compile(r"[0-9]{2,8}")
# What a published number may look like before phonenumbers reads it (it would turn letters into digits).
PHONE_TEXT_RE = re.compile(r"[+(]?[0-9][0-9 ().-]*")
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
NAME_MAX = 64
GUIDANCE_MAX = 60  # what fits a lettering line after the department name
CALLER_NUMBER_MAX = 20  # the column's width
# Rows per flush and progress report while writing extensions.
BATCH = 500

if TYPE_CHECKING:
    from _csv import Reader as CsvReader

Progress = Callable[[int], None]
_Row = TypeVar("_Row", DirectoryAgency, DirectoryDepartment, DirectoryExtension)


# The columns as a person reads them in Korean (the console's refusals name both).
COLUMN_LABELS = {
    "agency_code": "기관 코드",
    "agency_name": "기관명",
    "department_code": "부서 코드",
    "department_name": "부서명",
    "parent_unit": "상위 조직",
    "team_name": "팀",
    "extension": "내선",
    "caller_number": "발신번호",
    "guidance": "안내 문구",
    "header": "머리글",
    "row": "행",
    "file": "파일",
}


@dataclass(frozen=True, slots=True)
class RowError:
    """One refused line: `reason` in English (the CLI), `korean` the same in Korean (the console)."""

    line: int
    field: str
    reason: str
    korean: str = ""

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.reason}"

    def in_korean(self) -> str:
        """'12번째 줄, 발신번호(caller_number): …' (a file-wide problem names no column)."""
        label = COLUMN_LABELS.get(self.field, self.field)
        where = label if self.field in ("header", "row", "file") else f"{label}({self.field})"
        return f"{self.line}번째 줄, {where}: {self.korean or self.reason}"


@dataclass(frozen=True, slots=True)
class AgencyRow:
    code: str
    name: str


@dataclass(frozen=True, slots=True)
class DepartmentRow:
    code: str
    agency_code: str
    name: str
    parent_unit: str
    guidance: str


@dataclass(frozen=True, slots=True)
class ExtensionRow:
    line: int
    agency_code: str
    department_code: str
    extension: str
    team_name: str
    caller_number: str  # as published, e.g. 031-5180-2114


@dataclass(frozen=True, slots=True)
class ParsedDirectory:
    """A whole, consistent directory file: each agency and department once, in file order."""

    agencies: tuple[AgencyRow, ...]
    departments: tuple[DepartmentRow, ...]
    extensions: tuple[ExtensionRow, ...]


# --- parsing -------------------------------------------------------------------------------


def parse_directory(source: Path | bytes | str) -> ParsedDirectory | list[RowError]:
    """Check every row of a directory CSV; the directory, or all the errors and nothing else.

    `source` is the file (a Path), its raw bytes (see `decode_directory`), or its text.
    """
    return read_directory(source).result


@dataclass(frozen=True, slots=True)
class DirectoryFile:
    """A directory file as read: the encoding it was read in ("" when it could not be read),
    and the directory or every error. The CLI and the console both read files through here."""

    encoding: str
    result: ParsedDirectory | list[RowError]


UTF8_BOM, UTF8, CP949 = "UTF-8 (BOM)", "UTF-8", "CP949 (EUC-KR)"


def read_directory(source: Path | bytes | str) -> DirectoryFile:
    """Decode (`decode_directory`) and parse a directory file."""
    if isinstance(source, str):
        return DirectoryFile(UTF8, _Parser().parse(source.removeprefix("\ufeff")))
    decoded = decode_directory(source.read_bytes() if isinstance(source, Path) else source)
    if isinstance(decoded, RowError):
        return DirectoryFile("", [decoded])
    text, encoding = decoded
    return DirectoryFile(encoding, _Parser().parse(text))


def decode_directory(data: bytes) -> tuple[str, str] | RowError:
    """(text, encoding read): UTF-8 with or without BOM, else CP949 (a superset of EUC-KR: what
    Excel on Korean Windows saves as "CSV"); a file that is neither is refused with its line."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        try:
            return data.decode("cp949"), CP949
        except UnicodeDecodeError:
            pass
        line = data.count(b"\n", 0, exc.start) + 1
        byte = f"0x{data[exc.start]:02x}"
        return RowError(
            line,
            "file",
            f"not UTF-8 (byte {byte}) nor CP949/EUC-KR; save it as UTF-8 (in Excel: 'CSV UTF-8')",
            f"UTF-8도 CP949(EUC-KR)도 아닌 바이트({byte})가 있습니다."
            " 엑셀에서 'CSV UTF-8(쉼표로 분리)' 형식으로 다시 저장해 주세요",
        )
    return text, (UTF8_BOM if data.startswith(b"\xef\xbb\xbf") else UTF8)


@dataclass(slots=True)
class _Parser:
    errors: list[RowError] = field(default_factory=list)
    agencies: dict[str, tuple[AgencyRow, int]] = field(default_factory=dict)
    departments: dict[str, tuple[DepartmentRow, int]] = field(default_factory=dict)
    extensions: dict[tuple[str, str], tuple[ExtensionRow, int]] = field(default_factory=dict)

    def parse(self, text: str) -> ParsedDirectory | list[RowError]:
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        try:
            header = next(reader, None)
        except csv.Error as exc:
            return [RowError(1, "header", f"not valid CSV ({exc})", f"CSV 형식이 아닙니다 ({exc})")]
        if header is None:
            return [RowError(1, "header", "the file is empty", "빈 파일입니다")]
        names = [name.strip() for name in header]
        header_error = _check_header(names)
        if header_error is not None:
            return [header_error]
        index = {name: i for i, name in enumerate(names)}

        for line, row in self._rows(reader):
            if not any(cell.strip() for cell in row):
                continue  # blank lines, and the empty rows spreadsheets leave at the end
            if len(row) != len(names):
                self.errors.append(
                    RowError(
                        line,
                        "row",
                        f"{len(row)} fields, expected {len(names)}",
                        f"칸이 {len(row)}개입니다. {len(names)}개여야 합니다",
                    )
                )
                continue
            values = {name: row[index[name]].strip() for name in COLUMNS}
            field_errors = list(_check_fields(line, values))
            if field_errors:
                self.errors.extend(field_errors)
            else:
                self._add(line, values)

        if self.errors:
            return self.errors
        if not self.extensions:
            return [
                RowError(2, "file", "no rows after the header", "머리글 다음에 내선 행이 하나도 없습니다")
            ]
        return ParsedDirectory(
            agencies=tuple(agency for agency, _ in self.agencies.values()),
            departments=tuple(dept for dept, _ in self.departments.values()),
            extensions=tuple(ext for ext, _ in self.extensions.values()),
        )

    def _rows(self, reader: CsvReader) -> Iterator[tuple[int, list[str]]]:
        """(first line of the row, row); a quoted field may span lines."""
        line_num = 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                self.errors.append(
                    RowError(
                        line_num + 1,
                        "row",
                        f"not valid CSV ({exc}); stopped reading here",
                        f"CSV 형식이 깨져 여기서 읽기를 멈췄습니다 ({exc})."
                        " 따옴표가 짝이 맞는지 확인해 주세요",
                    )
                )
                return
            yield line_num + 1, row
            line_num = reader.line_num

    def _add(self, line: int, v: dict[str, str]) -> None:
        """Record a row whose fields are each valid, checking it against the rows before it."""
        agency = AgencyRow(code=v["agency_code"], name=v["agency_name"])
        seen_agency = self.agencies.setdefault(agency.code, (agency, line))
        if seen_agency[0].name != agency.name:
            first, first_line = seen_agency
            self.errors.append(
                RowError(
                    line,
                    "agency_name",
                    f"{agency.name!r} differs from {first.name!r} on line {first_line}"
                    f" (agency {agency.code})",
                    f"「{agency.name}」{particle_for(agency.name, '이')} {first_line}번째 줄의"
                    f" 「{first.name}」{particle_for(first.name, '과')} 다릅니다 (기관 {agency.code})",
                )
            )

        dept = DepartmentRow(
            code=v["department_code"],
            agency_code=agency.code,
            name=v["department_name"],
            parent_unit=v["parent_unit"],
            guidance=v["guidance"],
        )
        first_dept, first_line = self.departments.setdefault(dept.code, (dept, line))
        if first_dept.agency_code != dept.agency_code:
            self.errors.append(
                RowError(
                    line,
                    "department_code",
                    f"{dept.code} belongs to agency {first_dept.agency_code} on line {first_line},"
                    f" not to {dept.agency_code}",
                    f"{dept.code}{particle_for(dept.code, '은')} {first_line}번째 줄에서 기관"
                    f" {first_dept.agency_code}의 부서입니다 ({dept.agency_code}의 부서일 수 없습니다)",
                )
            )
        else:
            for column, attr in (
                ("department_name", "name"),
                ("parent_unit", "parent_unit"),
                ("guidance", "guidance"),
            ):
                mine, theirs = getattr(dept, attr), getattr(first_dept, attr)
                if mine != theirs:
                    self.errors.append(
                        RowError(
                            line,
                            column,
                            f"{mine!r} differs from {theirs!r} on line {first_line} (department {dept.code})",
                            f"「{mine}」{particle_for(mine, '이')} {first_line}번째 줄의 「{theirs}」"
                            f"{particle_for(theirs, '과')} 다릅니다 (같은 부서 {dept.code}의 행은 이 칸이"
                            " 같아야 합니다)",
                        )
                    )

        ext = ExtensionRow(
            line=line,
            agency_code=agency.code,
            department_code=dept.code,
            extension=v["extension"],
            team_name=v["team_name"],
            caller_number=v["caller_number"],
        )
        key = (agency.code, ext.extension)
        if key in self.extensions:
            other_line = self.extensions[key][1]
            self.errors.append(
                RowError(
                    line,
                    "extension",
                    f"{ext.extension} of agency {agency.code} is also on line {other_line}",
                    f"내선 {ext.extension}{particle_for(ext.extension, '이')}"
                    f" {other_line}번째 줄에도 있습니다",
                )
            )
        else:
            self.extensions[key] = (ext, line)


def _check_header(names: list[str]) -> RowError | None:
    missing = [c for c in COLUMNS if c not in names]
    unexpected = [n for n in names if n not in COLUMNS]
    repeated = sorted({n for n in names if n in COLUMNS and names.count(n) > 1})
    problems = []
    if missing:
        problems.append("missing columns: " + ", ".join(missing))
    if unexpected:
        problems.append("unexpected columns: " + ", ".join(repr(n) for n in unexpected))
    if repeated:
        problems.append("repeated columns: " + ", ".join(repeated))
    if not problems:
        return None
    korean = []
    if missing:
        korean.append("없는 열: " + ", ".join(missing))
    if unexpected:
        korean.append("알 수 없는 열: " + ", ".join(repr(n) for n in unexpected))
    if repeated:
        korean.append("두 번 나온 열: " + ", ".join(repeated))
    return RowError(
        1,
        "header",
        "; ".join(problems) + " (expected: " + ",".join(COLUMNS) + ")",
        "; ".join(korean) + " (첫 줄은 " + ",".join(COLUMNS) + " 이어야 합니다)",
    )


# Characters no field may hold: controls, format characters (bidi overrides, zero widths), line
# and paragraph separators, private use, lone surrogates; the joiner inside an emoji is fine.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cs"})
_ALLOWED_FORMAT = frozenset({"\u200d"})


def hidden_characters(text: str) -> list[str]:
    """The code points ("U+202E") of `text` a citizen's phone would not show as text, sorted."""
    return sorted(
        {
            f"U+{ord(ch):04X}"
            for ch in text
            if unicodedata.category(ch) in _HIDDEN_CATEGORIES and ch not in _ALLOWED_FORMAT
        }
    )


def _check_fields(line: int, v: dict[str, str]) -> Iterator[RowError]:
    for name, value in v.items():
        if CONTROL_RE.search(value) or hidden_characters(value):
            yield RowError(
                line,
                name,
                "contains a line break or control character",
                "줄바꿈이나 보이지 않는 제어 문자가 들어 있습니다",
            )
            return
    for name in ("agency_code", "department_code"):
        if not v[name]:
            yield RowError(line, name, "empty", "비어 있습니다")
        elif not CODE_RE.fullmatch(v[name]):
            yield RowError(
                line,
                name,
                f"{v[name]!r} is not a code (1-32 of A-Z a-z 0-9 _ -)",
                f"「{v[name]}」{particle_for(v[name], '은')} 코드가 아닙니다 (영문·숫자·_·- 1~32자)",
            )
    for name in ("agency_name", "department_name"):
        if not v[name]:
            yield RowError(line, name, "empty", "비어 있습니다")
    for name in ("agency_name", "department_name", "parent_unit", "team_name"):
        if len(v[name]) > NAME_MAX:
            yield RowError(
                line,
                name,
                f"{len(v[name])} characters, at most {NAME_MAX}",
                f"{len(v[name])}자입니다. {NAME_MAX}자 이하여야 합니다",
            )
    if not EXTENSION_RE.fullmatch(v["extension"]):
        yield RowError(
            line,
            "extension",
            f"{v['extension']!r} is not 2 to 8 digits",
            f"「{v['extension']}」{particle_for(v['extension'], '은')} 2~8자리 숫자가 아닙니다",
        )
    number = v["caller_number"]
    if not number:
        yield RowError(line, "caller_number", "empty", "비어 있습니다")
    elif (problem := caller_number_problem(number)) is not None:
        yield RowError(line, "caller_number", f"{number!r} {problem}", caller_number_korean(number))
    if len(v["guidance"]) > GUIDANCE_MAX:
        yield RowError(
            line,
            "guidance",
            f"{len(v['guidance'])} characters, at most {GUIDANCE_MAX}",
            f"{len(v['guidance'])}자입니다. {GUIDANCE_MAX}자 이하여야 합니다",
        )


# A department calls out from its desk line: a landline (area code and subscriber number), an
# internet-telephone desk line (070) or a representative number (15xx/16xx/18xx-xxxx). A mobile
# number is a person's phone, not a desk line; toll-free (080) and personal (050x) numbers are
# numbers citizens call, not numbers an agency calls from.
_CALLER_TYPES = frozenset(
    {
        phonenumbers.PhoneNumberType.FIXED_LINE,
        phonenumbers.PhoneNumberType.VOIP,
        phonenumbers.PhoneNumberType.UAN,
    }
)
_REFUSED_TYPES = {
    phonenumbers.PhoneNumberType.MOBILE: "a mobile number",
    phonenumbers.PhoneNumberType.TOLL_FREE: "a toll-free number",
    phonenumbers.PhoneNumberType.PERSONAL_NUMBER: "a personal number",
    phonenumbers.PhoneNumberType.PAGER: "a pager number",
}
# Landlines in their plainest published form, accepted without phonenumbers (~30 µs a number on a
# 90k-row file); tests/unit/test_directory_parse.py checks phonenumbers calls each a valid landline.
LANDLINE_KR = re.compile(r"0(?:2|3[1-3]|4[1-4]|5[1-5]|6[1-4])[2-9][0-9]{6,7}")
_SEPARATORS = str.maketrans("", "", "-. ()")
_NOT_KOREAN = "is not a Korean phone number"


def caller_number_problem(text: str) -> str | None:
    """Why `text` cannot be a department's caller number, or None when it can."""
    if len(text) > CALLER_NUMBER_MAX or not PHONE_TEXT_RE.fullmatch(text):
        return _NOT_KOREAN
    if LANDLINE_KR.fullmatch(text.translate(_SEPARATORS)):
        return None
    try:
        number = phonenumbers.parse(text, "KR")
    except phonenumbers.NumberParseException:
        return _NOT_KOREAN
    if number.country_code != 82 or not phonenumbers.is_valid_number(number):
        return _NOT_KOREAN
    kind = phonenumbers.number_type(number)
    if kind in _CALLER_TYPES:
        return None
    what = _REFUSED_TYPES.get(kind, "not a landline")
    return (
        f"is {what}, not an agency's desk line: give the department's landline or representative "
        "number (e.g. 031-5180-2114, 1588-1234)"
    )


def caller_number_korean(text: str) -> str:
    """Why `text` cannot be a caller number, in Korean (`caller_number_problem` says it in English)."""
    problem = caller_number_problem(text)
    if problem is None:
        return ""
    if problem == _NOT_KOREAN:
        return f"「{text}」{particle_for(text, '은')} 국내 전화번호가 아닙니다 (예: 031-5180-2114)"
    return (
        f"「{text}」{particle_for(text, '은')} 기관의 사무실 번호가 아닙니다"
        " (휴대전화·수신자부담·개인 번호는 쓸 수 없습니다). 부서의 유선 번호나 대표번호를 적어 주세요"
        " (예: 031-5180-2114, 1588-1234)"
    )


# --- importing -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Counts:
    added: int = 0
    updated: int = 0
    unchanged: int = 0

    def __str__(self) -> str:
        return f"{self.added} added, {self.updated} updated, {self.unchanged} unchanged"


@dataclass(frozen=True, slots=True)
class ImportSummary:
    agencies: Counts
    departments: Counts
    extensions: Counts
    absent: int  # extensions of the file's agencies that are in the database but not in the file
    pruned: int  # of those, deleted (only with prune)
    bumped: bool  # something changed, so the "directory" snapshot version was bumped

    def lines(self) -> list[str]:
        """A short report for the operator."""
        out = [
            f"agencies:    {self.agencies}",
            f"departments: {self.departments}",
            f"extensions:  {self.extensions}",
        ]
        if self.pruned:
            out.append(f"{self.pruned} extensions not in the file were deleted")
        elif self.absent:
            out.append(
                f"{self.absent} extensions in the database are not in the file (kept; --prune deletes them)"
            )
        out.append(
            "directory changed; workers reload it within seconds" if self.bumped else "nothing changed"
        )
        return out


@dataclass(slots=True)
class _Tally:
    added: int = 0
    updated: int = 0
    unchanged: int = 0

    def counts(self) -> Counts:
        return Counts(self.added, self.updated, self.unchanged)


async def import_directory(
    sessions: async_sessionmaker[AsyncSession],
    parsed: ParsedDirectory,
    progress: Progress | None = None,
    *,
    prune: bool = False,
) -> ImportSummary:
    """Upsert a parsed directory in one transaction; all of it or, on any error, none of it.

    `progress(n)` is called with the number of extension rows written so far.
    """
    async with sessions() as session, session.begin():
        return await apply_directory(session, parsed, progress, prune=prune)


async def apply_directory(
    session: AsyncSession,
    parsed: ParsedDirectory,
    progress: Progress | None = None,
    *,
    prune: bool = False,
) -> ImportSummary:
    """`import_directory` inside the caller's transaction (flushes only, never commits)."""
    now = utcnow()

    agencies = await repository.agencies_by_code(session, [a.code for a in parsed.agencies])
    agency_tally = _Tally()
    for row in parsed.agencies:
        agency = agencies.get(row.code)
        if agency is None:
            agencies[row.code] = _add(
                session,
                DirectoryAgency.model_validate(
                    {
                        "code": row.code,
                        "name": row.name,
                        "default_guidance": f"{row.name} 공식 안내 전화입니다",
                    }
                ),
            )
            agency_tally.added += 1
        elif _update(agency, now, name=row.name):
            agency_tally.updated += 1
        else:
            agency_tally.unchanged += 1
    await session.flush()
    agency_ids = {code: _id(agency) for code, agency in agencies.items()}

    departments = await repository.departments_by_code(session, [d.code for d in parsed.departments])
    await _refuse_moved_departments(session, parsed, departments, agency_ids)
    dept_tally = _Tally()
    for dept_row in parsed.departments:
        dept = departments.get(dept_row.code)
        if dept is None:
            departments[dept_row.code] = _add(
                session,
                DirectoryDepartment.model_validate(
                    {
                        "agency_id": agency_ids[dept_row.agency_code],
                        "code": dept_row.code,
                        "name": dept_row.name,
                        "parent_unit": dept_row.parent_unit,
                        "guidance": dept_row.guidance,
                    }
                ),
            )
            dept_tally.added += 1
        elif _update(
            dept, now, name=dept_row.name, parent_unit=dept_row.parent_unit, guidance=dept_row.guidance
        ):
            dept_tally.updated += 1
        else:
            dept_tally.unchanged += 1
    await session.flush()
    dept_ids = {code: _id(dept) for code, dept in departments.items()}

    # Every extension of these agencies in one query per 1000 agencies, matched in memory.
    existing = await repository.extensions_of_agencies(session, agency_ids.values())
    ext_tally = _Tally()
    seen: set[tuple[int, str]] = set()
    new: list[DirectoryExtension] = []
    for done, ext_row in enumerate(parsed.extensions, start=1):
        key = (agency_ids[ext_row.agency_code], ext_row.extension)
        seen.add(key)
        values = {
            "department_id": dept_ids[ext_row.department_code],
            "team_name": ext_row.team_name,
            "caller_number": ext_row.caller_number,
        }
        ext = existing.get(key)
        if ext is None:
            new.append(
                DirectoryExtension.model_validate({"agency_id": key[0], "extension": key[1], **values})
            )
            ext_tally.added += 1
        elif _update(ext, now, **values):
            ext_tally.updated += 1
        else:
            ext_tally.unchanged += 1
        if done % BATCH == 0:
            await repository.insert_extensions(session, new)
            new.clear()
            await session.flush()
            if progress is not None:
                progress(done)
    await repository.insert_extensions(session, new)

    absent = [_id(ext) for key, ext in existing.items() if key not in seen]
    if prune and absent:
        await repository.delete_extensions(session, absent)
    await session.flush()

    changed = bool(
        agency_tally.added
        or agency_tally.updated
        or dept_tally.added
        or dept_tally.updated
        or ext_tally.added
        or ext_tally.updated
        or (prune and absent)
    )
    if changed:
        await snapshot_service.bump(session, SNAPSHOT_NAME)
    if progress is not None:
        progress(len(parsed.extensions))
    return ImportSummary(
        agencies=agency_tally.counts(),
        departments=dept_tally.counts(),
        extensions=ext_tally.counts(),
        absent=len(absent),
        pruned=len(absent) if prune else 0,
        bumped=changed,
    )


async def _refuse_moved_departments(
    session: AsyncSession,
    parsed: ParsedDirectory,
    departments: dict[str, DirectoryDepartment],
    agency_ids: dict[str, int],
) -> None:
    """Department codes are unique across agencies; the file may not hand one to another agency."""
    moved = [
        (row, departments[row.code].agency_id)
        for row in parsed.departments
        if row.code in departments and departments[row.code].agency_id != agency_ids[row.agency_code]
    ]
    if not moved:
        return
    owners = await repository.agency_codes_by_id(session, {owner for _, owner in moved})
    raise DirectoryConflict(
        "; ".join(
            f"department {row.code} belongs to agency {owners.get(owner, owner)} in the database, "
            f"not to {row.agency_code}"
            for row, owner in moved
        )
    )


def _add(session: AsyncSession, row: _Row) -> _Row:
    session.add(row)
    return row


def _update(
    row: DirectoryAgency | DirectoryDepartment | DirectoryExtension, now: datetime, **values: object
) -> bool:
    """Set the values that differ; True when one did (then `updated_at` moves too)."""
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    if changed:
        row.updated_at = now
    return changed


def _id(row: DirectoryAgency | DirectoryDepartment | DirectoryExtension) -> int:
    assert row.id is not None, "flushed rows have ids"
    return row.id
