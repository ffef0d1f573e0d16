"""The new-campaign form: the fields as typed (kept to re-show), turned into the service's input.

Values are checked in one place, `campaigns.service.CampaignInput.problems()`; this module only
reads the fields' shapes (a date, a number) and says the service's problems in Korean.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from starlette.datastructures import FormData

from campaigns import service as campaign_service
from lettering.core.templates import with_particle

# The service's problems ("title: 1-80 characters"), by their field, in the form's words.
FIELD_NAMES = {
    "title": "제목",
    "ends_on": "종료일",
    "starts_on": "시작일",
    "kind": "종류",
    "weekdays": "요일",
    "hours": "시간",
    "priority": "우선순위",
    "weight": "가중치",
    "targets": "대상",
    "agency": "기관",
    "departments": "부서",
    "reason": "반려 사유",
}
KNOWN_PROBLEMS = {
    "title: 1-80 characters": "제목은 1자 이상 80자 이하로 입력해 주세요",
    "ends_on: before starts_on": "종료일이 시작일보다 앞섭니다",
    "weekdays: digits 0 (Monday) to 6 (Sunday), each at most once": "요일을 하나 이상 골라 주세요",
    "hours: 0 <= hour_from < hour_until <= 24": "시작 시각은 종료 시각보다 앞서야 합니다 (0-24시)",
    "priority: 0-100": "우선순위는 0부터 100 사이여야 합니다",
    "targets: the agency, departments or extensions": "대상을 골라 주세요",
    "add at least one image before submitting": "제출하기 전에 이미지를 하나 이상 올려 주세요",
    "only approvers approve campaigns": "승인자만 승인할 수 있습니다",
    "only approvers reject campaigns": "승인자만 반려할 수 있습니다",
    "a campaign is approved by someone other than its author": "자신이 만든 캠페인은 승인할 수 없습니다",
    "agency: a platform admin names the agency by its code": "플랫폼 관리자는 기관을 지정해야 합니다",
}


# The campaigns service's states as the console names them.
STATE_NAMES = {
    "draft": "작성 중",
    "submitted": "승인 대기",
    "approved": "승인됨",
    "rejected": "반려됨",
    "ended": "종료됨",
}
_CANNOT = re.compile(r"^a (\w+) campaign cannot be (submitted|approved|rejected)$")
_VERBS = {"submitted": "승인 요청할", "approved": "승인할", "rejected": "반려할"}


def _by_pattern(problem: str) -> str | None:
    """The service's problems that carry a value, in Korean."""
    cannot = _CANNOT.match(problem)
    if cannot:
        state, verb = cannot.groups()
        return f"{STATE_NAMES.get(state, state)} 상태의 캠페인은 {_VERBS[verb]} 수 없습니다"
    if problem.startswith("only the owning department"):
        return "담당 부서 또는 승인자만 할 수 있습니다"
    if problem.startswith("images can be added to a draft"):
        return "이미지는 작성 중인 캠페인에만 올릴 수 있습니다"
    if "targeting needs an agency admin or an account of that department" in problem:
        return "부서에 속하지 않은 계정은 기관 관리자만 대상을 정할 수 있습니다"
    if problem.startswith("agency_wide: targeting the whole agency needs an agency admin"):
        return "기관 전체를 대상으로 하려면 기관 관리자여야 합니다. 우리 부서를 대상으로 골라 주세요"
    if problem == "your account belongs to no agency":
        return "계정이 어느 기관에도 속해 있지 않습니다"
    return None


def problems_in_korean(detail: str) -> list[str]:
    """Each of the service's problems (joined by '; ') in Korean where it is known, else as said."""
    out = []
    for problem in (p.strip() for p in detail.split("; ") if p.strip()):
        known = KNOWN_PROBLEMS.get(problem) or _by_pattern(problem)
        if known is None:
            name, sep, rest = problem.partition(": ")
            known = f"{FIELD_NAMES[name]}: {rest}" if sep and name in FIELD_NAMES else problem
        out.append(known)
    return out


def _text(form: FormData, name: str, default: str = "") -> str:
    value = form.get(name)
    return value if isinstance(value, str) else default


@dataclass
class CampaignForm:
    """The form's fields as typed."""

    title: str = ""
    starts_on: str = ""
    ends_on: str = ""
    weekdays: list[str] = field(default_factory=lambda: list("01234"))
    hour_from: str = "9"
    hour_until: str = "18"
    priority: str = "0"
    target: str = "department"  # department: the user's own; agency: the whole agency (admins)

    @classmethod
    def of(cls, form: FormData) -> CampaignForm:
        return cls(
            title=_text(form, "title")[:200],
            starts_on=_text(form, "starts_on")[:10],
            ends_on=_text(form, "ends_on")[:10],
            weekdays=sorted({d for d in form.getlist("weekdays") if isinstance(d, str) and d in "0123456"}),
            hour_from=_text(form, "hour_from")[:2],
            hour_until=_text(form, "hour_until")[:2],
            priority=_text(form, "priority")[:3],
            target="agency" if _text(form, "target") == "agency" else "department",
        )

    def as_input(self, department: str | None) -> tuple[campaign_service.CampaignInput | None, list[str]]:
        """The service's input, or (None, what cannot even be read) - dates and numbers."""
        problems: list[str] = []
        dates: dict[str, date] = {}
        for name, label in (("starts_on", "시작일"), ("ends_on", "종료일")):
            try:
                dates[name] = date.fromisoformat(getattr(self, name))
            except ValueError:
                problems.append(f"{with_particle(label, '을')} YYYY-MM-DD 형식으로 입력해 주세요")
        numbers: dict[str, int] = {}
        for name, label in (
            ("hour_from", "시작 시각"),
            ("hour_until", "종료 시각"),
            ("priority", "우선순위"),
        ):
            value = getattr(self, name).strip()
            if not value.isdigit():
                problems.append(f"{with_particle(label, '은')} 숫자로 입력해 주세요")
            else:
                numbers[name] = int(value)
        if not self.weekdays:
            problems.append("요일을 하나 이상 골라 주세요")
        if problems:
            return None, problems
        agency_wide = self.target == "agency" or department is None
        return (
            campaign_service.CampaignInput(
                title=self.title,
                starts_on=dates["starts_on"],
                ends_on=dates["ends_on"],
                weekdays="".join(self.weekdays),
                hour_from=numbers["hour_from"],
                hour_until=numbers["hour_until"],
                priority=numbers["priority"],
                agency_wide=agency_wide,
                target_departments=() if agency_wide or department is None else (department,),
            ),
            [],
        )
