"""parse_directory: every rule, line numbers as in the file, encodings, all or nothing."""

from __future__ import annotations

import csv
from pathlib import Path

import phonenumbers
import pytest

from lettering.directory.importer import LANDLINE_KR, read_directory
from lettering.directory.service import COLUMNS, ParsedDirectory, RowError, parse_directory

DATA = Path(__file__).resolve().parents[2] / "data" / "directory.csv"
HEADER = ",".join(COLUMNS)
GOOD = {
    "agency_code": "HANBIT",
    "agency_name": "한빛특례시",
    "department_code": "HANBIT-0009",
    "department_name": "민원여권과",
    "parent_unit": "자치행정국",
    "team_name": "민원여권1팀",
    "extension": "2362",
    "caller_number": "031-5180-2362",
    "guidance": "여권·민원 처리 관련 안내 전화입니다",
}


def row(**changes: str) -> str:
    values = {**GOOD, **changes}
    return ",".join(values[c] for c in COLUMNS)


def csv_text(*rows: str) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


def errors_of(source: str | bytes | Path) -> list[str]:
    result = parse_directory(source)
    assert isinstance(result, list), "expected errors, got a directory"
    return [str(e) for e in result]


def parsed(source: str | bytes | Path) -> ParsedDirectory:
    result = parse_directory(source)
    assert isinstance(result, ParsedDirectory), [str(e) for e in result]
    return result


# --- the real file, encodings ---------------------------------------------------------------


def test_real_directory_parses_completely() -> None:
    with DATA.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))

    directory = parsed(DATA)

    assert len(directory.extensions) == len(rows)
    assert {a.code for a in directory.agencies} == {r["agency_code"] for r in rows}
    assert len(directory.departments) == len({r["department_code"] for r in rows})
    ext = next(e for e in directory.extensions if e.agency_code == "HANBIT" and e.extension == "2114")
    assert (ext.department_code, ext.caller_number, ext.line) == ("HANBIT-0003", "031-5180-2114", 116)


def test_utf8_with_and_without_bom_give_the_same_directory() -> None:
    raw = DATA.read_bytes()
    plain = parsed(raw)

    assert parsed(b"\xef\xbb\xbf" + raw) == plain
    assert parsed("\ufeff" + raw.decode()) == plain


def test_crlf_line_ends() -> None:
    directory = parsed(csv_text(row(), row(extension="2363")).replace("\n", "\r\n"))
    assert [e.extension for e in directory.extensions] == ["2362", "2363"]


def test_cp949_as_excel_saves_it_is_read_and_said() -> None:
    data = csv_text(row(), row(extension="2363")).encode("cp949")
    read = read_directory(data)
    assert read.encoding == "CP949 (EUC-KR)"
    assert read.result == parsed(csv_text(row(), row(extension="2363")))
    assert read_directory(b"\xef\xbb\xbf" + data.decode("cp949").encode()).encoding == "UTF-8 (BOM)"
    assert read_directory(csv_text(row()).encode()).encoding == "UTF-8"


def test_not_utf8_and_not_cp949() -> None:
    (error,) = errors_of(csv_text(row()).encode() + b"\xff\xfe\xff")
    assert error.startswith("line 3: file: not UTF-8 (byte 0xff) nor CP949/EUC-KR; save it as UTF-8")
    result = read_directory(csv_text(row()).encode() + b"\xff\xfe\xff").result
    assert isinstance(result, list)
    assert result[0].in_korean().startswith("3번째 줄, 파일: UTF-8도 CP949(EUC-KR)도 아닌 바이트(0xff)")


# --- header ---------------------------------------------------------------------------------


def test_empty_file() -> None:
    assert errors_of("") == ["line 1: header: the file is empty"]


def test_header_only() -> None:
    assert errors_of(HEADER + "\n") == ["line 2: file: no rows after the header"]


def test_missing_and_unexpected_columns_are_named() -> None:
    header = HEADER.replace(",guidance", "").replace("team_name", "team")
    (error,) = errors_of(header + "\n")
    assert error.startswith(
        "line 1: header: missing columns: team_name, guidance; unexpected columns: 'team'"
    )
    assert "(expected: agency_code,agency_name," in error


def test_repeated_column() -> None:
    (error,) = errors_of(HEADER + ",extension\n")
    assert error.startswith("line 1: header: repeated columns: extension")


def test_columns_in_another_order_and_padded_values() -> None:
    reordered = list(reversed(COLUMNS))
    text = ",".join(reordered) + "\n" + ",".join(f" {GOOD[c]} " for c in reordered) + "\n"
    (ext,) = parsed(text).extensions
    assert (ext.agency_code, ext.extension, ext.caller_number) == ("HANBIT", "2362", "031-5180-2362")


# --- one field at a time --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"agency_code": ""}, "agency_code: empty"),
        ({"agency_code": "HAN BIT"}, "agency_code: 'HAN BIT' is not a code (1-32 of A-Z a-z 0-9 _ -)"),
        ({"agency_code": "A" * 33}, "agency_code: '" + "A" * 33 + "' is not a code"),
        ({"agency_code": "한빛"}, "agency_code: '한빛' is not a code"),
        ({"department_code": "HANBIT/0009"}, "department_code: 'HANBIT/0009' is not a code"),
        ({"department_code": ""}, "department_code: empty"),
        ({"agency_name": ""}, "agency_name: empty"),
        ({"department_name": ""}, "department_name: empty"),
        ({"agency_name": "가" * 65}, "agency_name: 65 characters, at most 64"),
        ({"department_name": "가" * 65}, "department_name: 65 characters, at most 64"),
        ({"parent_unit": "가" * 65}, "parent_unit: 65 characters, at most 64"),
        ({"team_name": "가" * 65}, "team_name: 65 characters, at most 64"),
        ({"extension": "7"}, "extension: '7' is not 2 to 8 digits"),
        ({"extension": "123456789"}, "extension: '123456789' is not 2 to 8 digits"),
        ({"extension": "21a4"}, "extension: '21a4' is not 2 to 8 digits"),
        ({"extension": ""}, "extension: '' is not 2 to 8 digits"),
        ({"extension": "２１１４"}, "extension: '２１１４' is not 2 to 8 digits"),  # full-width digits
        ({"caller_number": ""}, "caller_number: empty"),
        ({"caller_number": "031-5180-ABCD"}, "caller_number: '031-5180-ABCD' is not a Korean phone number"),
        ({"caller_number": "12"}, "caller_number: '12' is not a Korean phone number"),
        (
            {"caller_number": "+1 212 555 0100"},
            "caller_number: '+1 212 555 0100' is not a Korean phone number",
        ),
        (
            {"caller_number": "031-5180-2362-0000-0000"},
            "caller_number: '031-5180-2362-0000-0000' is not a Korean",
        ),
        ({"guidance": "가" * 61}, "guidance: 61 characters, at most 60"),
        ({"team_name": '"1팀\n2팀"'}, "team_name: contains a line break or control character"),
    ],
)
def test_field_rules(changes: dict[str, str], expected: str) -> None:
    (error,) = errors_of(csv_text(row(extension="2000"), row(**changes)))
    assert error.startswith("line 3: " + expected), error


@pytest.mark.parametrize(
    "changes",
    [
        {"caller_number": "0315180 2362"},
        {"caller_number": "+82-31-5180-2362"},
        {"caller_number": "(061) 530-7000"},
        {"caller_number": "02-2133-1234"},
        {"caller_number": "031-123-4567"},
        {"caller_number": "1588-1234"},
        {"caller_number": "070-1234-5678"},
        {"guidance": "가" * 60},
        {"agency_name": "가" * 64},
        {"guidance": "", "parent_unit": "", "team_name": ""},
        {"extension": "12", "agency_code": "a_B-9", "department_code": "x" * 32},
    ],
)
def test_values_at_the_limits_are_accepted(changes: dict[str, str]) -> None:
    parsed(csv_text(row(**changes)))


def test_wrong_number_of_fields() -> None:
    assert errors_of(csv_text(row(), row(extension="2363") + ",extra")) == [
        "line 3: row: 10 fields, expected 9"
    ]


def test_broken_quoting() -> None:
    (error,) = errors_of(csv_text(row(), row(extension="2363", team_name='"1팀"x')))
    assert error.startswith("line 3: row: not valid CSV")


# --- rows against each other ----------------------------------------------------------------


def test_agency_code_with_two_names() -> None:
    assert errors_of(csv_text(row(extension="2000"), row(extension="2001", agency_name="한빛시"))) == [
        "line 3: agency_name: '한빛시' differs from '한빛특례시' on line 2 (agency HANBIT)"
    ]


def test_department_code_in_two_agencies() -> None:
    text = csv_text(row(extension="2000"), row(agency_code="PUREUN", agency_name="푸른군"))
    assert errors_of(text) == [
        "line 3: department_code: HANBIT-0009 belongs to agency HANBIT on line 2, not to PUREUN"
    ]


@pytest.mark.parametrize(
    ("changes", "column"),
    [
        ({"department_name": "여권과"}, "department_name"),
        ({"parent_unit": "기획조정실"}, "parent_unit"),
        ({"guidance": "다른 안내"}, "guidance"),
        # The real file never leaves a department's guidance empty on some rows only: empty is a value.
        ({"guidance": ""}, "guidance"),
    ],
)
def test_department_stated_differently(changes: dict[str, str], column: str) -> None:
    (error,) = errors_of(csv_text(row(extension="2000"), row(extension="2001", **changes)))
    assert error.startswith(f"line 3: {column}: ")
    assert error.endswith("on line 2 (department HANBIT-0009)")


def test_duplicate_extension_names_both_lines() -> None:
    text = csv_text(row(extension="2000"), row(extension="2001"), row(extension="2000", team_name="다른팀"))
    assert errors_of(text) == ["line 4: extension: 2000 of agency HANBIT is also on line 2"]


def test_same_extension_in_two_agencies_is_fine() -> None:
    other = row(
        agency_code="PUREUN",
        agency_name="푸른군",
        department_code="PUREUN-0001",
        caller_number="061-530-2362",
    )
    directory = parsed(csv_text(row(), other))
    assert [(e.agency_code, e.extension) for e in directory.extensions] == [
        ("HANBIT", "2362"),
        ("PUREUN", "2362"),
    ]


# --- line numbers, all or nothing -----------------------------------------------------------


def test_line_numbers_count_blank_lines_and_quoted_line_breaks() -> None:
    text = "\n".join(
        [
            HEADER,
            row(extension="2000"),
            "",
            row(extension="2001", team_name='"민원\n여권팀"'),
            ",,,,,,,,",
            row(extension="x"),
        ]
    )
    assert errors_of(text) == [
        "line 4: team_name: contains a line break or control character",
        "line 7: extension: 'x' is not 2 to 8 digits",
    ]


def test_every_bad_row_is_reported_in_file_order_and_nothing_else_is_returned() -> None:
    rows = [row(extension=str(2000 + i)) for i in range(50)]
    rows[9] = row(extension="2009", caller_number="nope")
    rows[30] = row(extension="2030", agency_code="", guidance="가" * 61)
    result = parse_directory(csv_text(*rows))

    assert isinstance(result, list)
    assert all(isinstance(e, RowError) for e in result)
    assert [str(e) for e in result] == [
        "line 11: caller_number: 'nope' is not a Korean phone number",
        "line 32: agency_code: empty",
        "line 32: guidance: 61 characters, at most 60",
    ]


def test_rows_are_grouped_once_per_agency_and_department() -> None:
    pureun = {
        "agency_code": "PUREUN",
        "agency_name": "푸른군",
        "department_code": "PUREUN-0001",
        "guidance": "",
    }
    directory = parsed(
        csv_text(
            row(extension="2000"),
            row(extension="7000", **pureun),
            row(extension="2001"),
            row(extension="7001", **pureun),
        )
    )
    assert [a.code for a in directory.agencies] == ["HANBIT", "PUREUN"]
    assert [d.code for d in directory.departments] == ["HANBIT-0009", "PUREUN-0001"]
    assert [e.line for e in directory.extensions] == [2, 3, 4, 5]


# --- caller numbers: a department's desk line, never a mobile or a short code ------------------


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("1234", "is not a Korean phone number"),
        ("120", "is not a Korean phone number"),
        ("031-5180", "is not a Korean phone number"),
        ("0130-123-4567", "is not a Korean phone number"),
        ("010-1111-2222", "is a mobile number, not an agency's desk line"),
        ("01011112222", "is a mobile number, not an agency's desk line"),
        ("+82 10-1111-2222", "is a mobile number, not an agency's desk line"),
        ("080-123-4567", "is a toll-free number, not an agency's desk line"),
        ("0505-123-4567", "is a personal number, not an agency's desk line"),
    ],
)
def test_caller_number_must_be_a_desk_line(number: str, reason: str) -> None:
    (error,) = errors_of(csv_text(row(extension="2000"), row(caller_number=number)))
    assert error.startswith(f"line 3: caller_number: {number!r} {reason}"), error


def test_landline_shortcut_agrees_with_phonenumbers() -> None:
    area_codes = ["02", "031", "032", "033", "041", "042", "043", "044"]
    area_codes += ["051", "052", "053", "054", "055", "061", "062", "063", "064"]
    for area in area_codes:
        for subscriber in ("2000000", "9999999", "20000000", "99999999", "5180211", "51802114"):
            digits = area + subscriber
            assert LANDLINE_KR.fullmatch(digits)
            number = phonenumbers.parse(digits, "KR")
            assert phonenumbers.is_valid_number(number), digits
            assert phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.FIXED_LINE, digits


def test_invisible_characters_are_refused_like_controls() -> None:
    for hidden in ("\u202e", "\u200b", "\u2028"):
        result = parse_directory(csv_text(row(guidance=f"여권{hidden}안내")))
        assert isinstance(result, list)
        (error,) = result
        assert str(error) == "line 2: guidance: contains a line break or control character"
        assert (
            error.in_korean()
            == "2번째 줄, 안내 문구(guidance): 줄바꿈이나 보이지 않는 제어 문자가 들어 있습니다"
        )
    assert isinstance(parse_directory(csv_text(row(guidance="안내 👩\u200d💻 전화입니다"))), ParsedDirectory)
