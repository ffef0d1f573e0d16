"""The campaign form: the fields as typed (kept to re-show), turned into the service's input.

Values are checked in one place, `campaigns.service.CampaignInput.problems()`, which says each
problem in Korean too; this module only reads the fields' shapes (a date, a number) and finds the
department of each extension typed, from the directory.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from starlette.datastructures import FormData

from campaigns import service as campaign_service
from lettering.core.templates import with_particle

MAX_TEXT = 600  # longer than any field the service takes: what is cut here is refused there anyway
_EXTENSION_SPLIT = re.compile(r"[\s,;]+")


def _text(form: FormData, name: str, default: str = "", limit: int = MAX_TEXT) -> str:
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else default


def _texts(form: FormData, name: str, limit: int = 64) -> list[str]:
    return [v[:limit] for v in form.getlist(name) if isinstance(v, str) and v.strip()]


@dataclass
class CampaignForm:
    """The form's fields as typed."""

    title: str = ""
    kind: str = "promo"
    starts_on: str = ""
    ends_on: str = ""
    weekdays: list[str] = field(default_factory=lambda: list("01234"))
    hour_from: str = "9"
    hour_until: str = "18"
    priority: str = "0"
    weight: str = "1"
    cap_per_day: str = ""
    cap_per_week: str = ""
    cap_total: str = ""
    post_call_card_news: bool = True
    youtube_url: str = ""
    policy_url: str = ""
    agency: str = ""  # the agency's code (platform admins choose it)
    department: str = ""  # the owning department's code; "" the agency (agency admins)
    agency_wide: bool = False
    target_departments: list[str] = field(default_factory=list)
    target_extensions: str = ""  # extension numbers as typed, separated by spaces, commas or lines

    @classmethod
    def of(cls, form: FormData) -> CampaignForm:
        """The fields as posted; a number the form did not send at all takes the form's default."""
        blank = cls()
        return cls(
            title=_text(form, "title"),
            kind="emergency" if _text(form, "kind") == "emergency" else "promo",
            starts_on=_text(form, "starts_on", limit=10),
            ends_on=_text(form, "ends_on", limit=10),
            weekdays=sorted({d for d in form.getlist("weekdays") if isinstance(d, str) and d in "0123456"}),
            hour_from=_text(form, "hour_from", blank.hour_from, limit=4),
            hour_until=_text(form, "hour_until", blank.hour_until, limit=4),
            priority=_text(form, "priority", blank.priority, limit=6),
            weight=_text(form, "weight", blank.weight, limit=6),
            cap_per_day=_text(form, "cap_per_day", limit=12),
            cap_per_week=_text(form, "cap_per_week", limit=12),
            cap_total=_text(form, "cap_total", limit=12),
            post_call_card_news=bool(_text(form, "post_call_card_news")),
            youtube_url=_text(form, "youtube_url").strip(),
            policy_url=_text(form, "policy_url").strip(),
            agency=_text(form, "agency", limit=64).strip(),
            department=_text(form, "department", limit=64).strip(),
            agency_wide=bool(_text(form, "agency_wide")),
            target_departments=sorted(set(_texts(form, "target_departments"))),
            target_extensions=_text(form, "target_extensions", limit=40_000),
        )

    @classmethod
    def from_input(cls, data: campaign_service.CampaignInput) -> CampaignForm:
        """A campaign's values in the form, to edit them."""
        return cls(
            title=data.title,
            kind=data.kind,
            starts_on=data.starts_on.isoformat(),
            ends_on=data.ends_on.isoformat(),
            weekdays=sorted(data.weekdays),
            hour_from=str(data.hour_from),
            hour_until=str(data.hour_until),
            priority=str(data.priority),
            weight=str(data.weight),
            cap_per_day="" if data.cap_per_day is None else str(data.cap_per_day),
            cap_per_week="" if data.cap_per_week is None else str(data.cap_per_week),
            cap_total="" if data.cap_total is None else str(data.cap_total),
            post_call_card_news=data.post_call_card_news,
            youtube_url=data.youtube_url or "",
            policy_url=data.policy_url or "",
            department=data.department or "",
            agency_wide=data.agency_wide,
            target_departments=list(data.target_departments),
            target_extensions=" ".join(t.extension for t in data.target_extensions),
        )

    def extensions(self) -> list[str]:
        return list(dict.fromkeys(e for e in _EXTENSION_SPLIT.split(self.target_extensions) if e))

    def as_input(
        self, department_of: Callable[[str], str | None]
    ) -> tuple[campaign_service.CampaignInput | None, list[str]]:
        """The service's input, or (None, what cannot even be read): dates, numbers, extensions
        the directory does not know (`department_of` answers an extension's department code)."""
        problems: list[str] = []
        dates: dict[str, date] = {}
        for name, label in (("starts_on", "시작일"), ("ends_on", "종료일")):
            try:
                dates[name] = date.fromisoformat(getattr(self, name))
            except ValueError:
                problems.append(f"{with_particle(label, '을')} YYYY-MM-DD 형식으로 입력해 주세요")
        required: dict[str, int] = {}
        optional: dict[str, int | None] = {}
        for name, label, needed in (
            ("hour_from", "시작 시각", True),
            ("hour_until", "종료 시각", True),
            ("priority", "우선순위", True),
            ("weight", "가중치", True),
            ("cap_per_day", "하루 노출 한도", False),
            ("cap_per_week", "주간 노출 한도", False),
            ("cap_total", "전체 노출 한도", False),
        ):
            value = getattr(self, name).strip().replace(",", "")
            if not value and not needed:
                optional[name] = None
            elif not value.isdigit() or len(value) > 10:
                problems.append(f"{with_particle(label, '은')} 숫자로 입력해 주세요")
            elif needed:
                required[name] = int(value)
            else:
                optional[name] = int(value)
        if not self.weekdays:
            problems.append("요일을 하나 이상 골라 주세요")
        targets: list[campaign_service.ExtensionTarget] = []
        unknown: list[str] = []
        for extension in self.extensions():
            department = department_of(extension)
            if department is None:
                unknown.append(extension)
            else:
                targets.append(campaign_service.ExtensionTarget(department, extension))
        if unknown:
            shown = ", ".join(unknown[:10]) + (f" 외 {len(unknown) - 10}개" if len(unknown) > 10 else "")
            problems.append(f"조직도에 없는 내선입니다: {shown}")
        if problems:
            return None, problems
        return (
            campaign_service.CampaignInput(
                title=self.title,
                kind=self.kind,
                starts_on=dates["starts_on"],
                ends_on=dates["ends_on"],
                weekdays="".join(self.weekdays),
                hour_from=required["hour_from"],
                hour_until=required["hour_until"],
                priority=required["priority"],
                weight=required["weight"],
                cap_per_day=optional["cap_per_day"],
                cap_per_week=optional["cap_per_week"],
                cap_total=optional["cap_total"],
                post_call_card_news=self.post_call_card_news,
                youtube_url=self.youtube_url or None,
                policy_url=self.policy_url or None,
                agency=self.agency or None,
                department=self.department or None,
                agency_wide=self.agency_wide,
                target_departments=tuple(self.target_departments),
                target_extensions=tuple(targets),
            ),
            [],
        )
