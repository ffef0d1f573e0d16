"""The citizen call check: "did the city call me?" by code, "is this the city's number?" by the
directory, and "this wasn't us" reports that show spoofing of the city's numbers early.

Nothing here stores or logs a citizen's own number: a call is shown with the number masked, a
report keeps the number the citizen saw (a public number of the city, or the spoofer's).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import phonenumbers
from sqlalchemy.ext.asyncio import AsyncSession

from lettering.calls import service as call_service
from lettering.core.phone import NotAPhoneNumber, PhoneVault, format_national, mask_national, parse_number
from lettering.core.settings import Settings
from lettering.directory import service as directory_service
from lettering.optout import service as optout_service
from lettering.ratelimit import service as ratelimit_service
from lettering.verify import repository

log = logging.getLogger("lettering.verify")

CODE_LENGTH = 6
NOTE_LIMIT = 500
# Anything in a free-text note that looks like a phone number (the citizen's own, typically).
_NUMBER_IN_TEXT = re.compile(r"(?:\+?82[\s.-]?|0)\d{1,2}[\s.)-]*\d{3,4}[\s.-]*\d{4}")


# What a citizen may type for a number: digits with the usual separators, at most 32 characters.
_TYPED_NUMBER = re.compile(r"\+?[0-9\s().-]{4,32}")


class InvalidNumber(ValueError):
    pass


# -- rate limits ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VerifyLimits:
    """The per-IP limits of `/verify`: lookups (by code or number) and reports, counted in the
    database (lettering/ratelimit) so every worker shares one budget."""

    lookups: ratelimit_service.Bucket
    reports: ratelimit_service.Bucket

    @classmethod
    def of(cls, limiter: ratelimit_service.RateLimiter, settings: Settings) -> VerifyLimits:
        window = settings.verify_rate_window_s
        return cls(
            limiter.bound(ratelimit_service.Limit("verify.lookup", settings.verify_rate_limit, window)),
            limiter.bound(ratelimit_service.Limit("verify.report", settings.verify_report_limit, window)),
        )


# -- whom the page speaks of ------------------------------------------------------------------


def home_agency(directory: directory_service.DirectorySnapshot) -> str | None:
    """The agency a single-agency service is run by (a city, a county...), None on a platform."""
    names = {agency.name for agency in directory.agencies.values() if agency.enabled}
    return names.pop() if len(names) == 1 else None


def agency_in_question(
    home: str | None,
    call: CallCheck | None = None,
    lookup: NumberLookup | None = None,
    report: SpoofReportResult | None = None,
) -> str | None:
    """The agency the report form names ("이 전화는 푸른군이 건 것이 아닙니다"): the one the citizen's
    last answer was about, else the service's own agency, else None (the form says 기관)."""
    if report is not None and report.agency_name:
        return report.agency_name
    if lookup is not None:
        names = {match.agency_name for match in lookup.matches}
        if len(names) == 1:
            return names.pop()
    if call is not None:
        return call.agency_name
    return home


# -- by code --------------------------------------------------------------------------------------


def normalize_code(raw: str) -> str | None:
    """The code as stored (upper case, no spaces or hyphens), or None if it cannot be one."""
    code = re.sub(r"[\s-]", "", raw).upper()
    if len(code) != CODE_LENGTH or any(ch not in call_service.VERIFY_ALPHABET for ch in code):
        return None
    return code


@dataclass(frozen=True, slots=True)
class CallCheck:
    agency_name: str
    department_name: str | None
    called_at: str  # Asia/Seoul, for people
    masked_callee: str | None  # None once the call no longer keeps the number


async def check_code(
    session: AsyncSession, vault: PhoneVault, code: str, now: datetime, retention_days: int
) -> CallCheck | None:
    """The call made with this code within the retention period (the most recent), or None."""
    record = await call_service.find_call_by_verify_code(session, code, now - timedelta(days=retention_days))
    if record is None or record.agency_id is None:
        return None
    agency_name, department_name = await directory_service.names(
        session, record.agency_id, record.department_id
    )
    number: str | None = None
    if record.callee_ciphertext is not None:
        number = optout_service.open_number(
            vault,
            optout_service.RetainedNumber(
                record.callee_ciphertext, record.callee_key_version or 1, record.agency_id, record.created_at
            ),
        )
    return CallCheck(
        agency_name=agency_name,
        department_name=department_name,
        called_at=optout_service.seoul_text(record.occurred_at or record.created_at),
        masked_callee=mask_national(number) if number else None,
    )


# -- by number ------------------------------------------------------------------------------------


def normalize_number(raw: str) -> str:
    """A number as typed by a citizen, in E.164; InvalidNumber if it cannot be a Korean number."""
    if not _TYPED_NUMBER.fullmatch(raw.strip()):
        raise InvalidNumber("not a phone number")
    try:
        parsed = parse_number(re.sub(r"[^0-9+]", "", raw))
        number = phonenumbers.parse(parsed.e164, "KR")
    except (NotAPhoneNumber, phonenumbers.NumberParseException) as exc:
        raise InvalidNumber("not a phone number") from exc
    if number.country_code != 82 or not phonenumbers.is_possible_number(number):
        raise InvalidNumber("not a possible Korean number")
    return parsed.e164


@dataclass(frozen=True, slots=True)
class NumberLookup:
    display: str  # '031-5180-2114'
    matches: list[directory_service.CallerNumberMatch]


async def lookup_number(session: AsyncSession, raw: str) -> NumberLookup:
    """Which agencies and departments call with this number (InvalidNumber if it is not one)."""
    e164 = normalize_number(raw)
    return NumberLookup(format_national(e164), await directory_service.caller_number_matches(session, e164))


# -- "this wasn't us" -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SpoofReportResult:
    report_id: int
    display: str
    agency_code: str | None
    agency_name: str | None


def scrub_note(note: str | None) -> str | None:
    """The note without anything that looks like a phone number (citizens type their own)."""
    if note is None:
        return None
    cleaned = _NUMBER_IN_TEXT.sub("[번호 삭제]", note.strip())[:NOTE_LIMIT]
    return cleaned or None


async def report_spoof(
    session: AsyncSession,
    *,
    shown_number: str,
    seen_at: datetime | None,
    note: str | None,
    ip_hash: str | None,
) -> SpoofReportResult:
    """Record a citizen's report that a call showing `shown_number` did not come from the city.

    The agency is the one whose number it is in the directory. A mobile number that is no
    agency's may be a private person's: only its masked form is kept.
    """
    e164 = normalize_number(shown_number)
    matches = await directory_service.caller_number_matches(session, e164)
    agency = matches[0] if matches else None
    kept = e164
    if agency is None and parse_number(e164).is_kr_mobile:
        kept = mask_national(e164)
    report_id = await repository.add_report(
        session,
        shown_number=kept,
        agency_id=agency.agency_id if agency else None,
        seen_at=seen_at,
        note=scrub_note(note),
        ip_hash=ip_hash,
    )
    display = format_national(e164) if kept == e164 else kept
    if agency is not None:
        log.warning(
            "spoofing reported for agency %s: a call showing %s at %s was not made by the agency (report %d)",
            agency.agency_code,
            display,
            optout_service.seoul_text(seen_at) if seen_at else "an unknown time",
            report_id,
        )
    else:
        log.info("spoofing report %d for a number that is no agency's", report_id)
    return SpoofReportResult(
        report_id, display, agency.agency_code if agency else None, agency.agency_name if agency else None
    )


async def spoof_report_counts(session: AsyncSession, since: datetime | None = None) -> dict[int, int]:
    """Reports per agency (agency id -> count), for the dashboard; reports matching no agency are left out."""
    return await repository.report_counts(session, since)


async def spoofed_numbers(
    session: AsyncSession, agency_id: int, since: datetime | None = None
) -> list[tuple[str, int]]:
    """An agency's reported numbers with their report counts, most reported first."""
    return await repository.numbers_reported(session, agency_id, since)


async def forget_report_ips(session: AsyncSession, older_than: datetime) -> int:
    """Drop the hashed IP of reports older than `older_than` (the counts stay)."""
    return await repository.forget_report_ips(session, older_than)


# -- the staff console's list of reports (lettering.console) --------------------------------------

SpoofReportView = repository.SpoofReportView


async def list_reports(
    session: AsyncSession, agency_id: int | None, *, before_id: int | None = None, limit: int = 50
) -> list[SpoofReportView]:
    """An agency's reports (None: every agency), newest first, paged by id."""
    return await repository.list_reports(session, agency_id, before_id, limit)


async def get_report(session: AsyncSession, report_id: int) -> SpoofReportView | None:
    """One report, or None (also for an id no row can have)."""
    if not 1 <= report_id <= 2**31 - 1:
        return None
    return await repository.get_report(session, report_id)


async def spoof_reports_per_day(
    session: AsyncSession, agency_id: int, since: datetime | None, until: datetime | None
) -> list[tuple[str, int]]:
    """(Seoul day, reports) of an agency's spoofing reports in [since, until), for the dashboard."""
    return await repository.reports_per_day(session, agency_id, since, until)
