"""AlimTalk templates: the approved texts as files, and the rules Kakao enforces on a rendered message.

A template is fixed text with `#{변수}` slots (spec/alimtalk.md). Kakao refuses a message whose text
differs from the approved template by anything but the variables — line breaks included — so the
only thing `render` does is substitute, and `check` (run by `render`) refuses what Kakao would
refuse before anything is sent. Every refusal is a `TemplateRuleError` naming the broken rule.

Each template also carries the SMS/LMS failover text the dealer sends when the citizen cannot
receive AlimTalk. It is rendered from the same parameters; SMS is chosen when it fits 90 bytes of
EUC-KR, LMS (up to 2,000 bytes, with a title) otherwise.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"

TemplateKind = Literal["identity_notice", "missed_call", "post_call", "optout_notice"]
KINDS: tuple[TemplateKind, ...] = ("identity_notice", "missed_call", "post_call", "optout_notice")
ButtonType = Literal["WL", "TN"]
ResendType = Literal["SMS", "LMS"]

BODY_LIMIT = 1000  # characters, after substitution
BUTTON_LIMIT = 5
# A message that gives the citizen a 확인코드 must also take them where it is checked: a web-link
# button to the service's public /verify page, filled from this variable (the relay makes it).
VERIFY_WORD = "확인코드"
VERIFY_VARIABLE = "확인URL"
_VERIFY_LINK = re.compile(r"https?://[^?#\s]+/verify(\?code=[^\s&#]*)?")
# A campaign's post-call card news goes as a web-link button filled from this variable: the public
# card-news page (…/c/<slug>), with the citizen's token (?t=…) as the carrier's post-call link has.
CARD_NEWS_WORD = "카드뉴스"
CARD_NEWS_VARIABLE = "카드뉴스URL"
_CARD_NEWS_LINK = re.compile(r"https?://[^?#\s]+/c/[^/?#\s]+(\?t=[A-Za-z0-9_.\-]+)?")
BUTTON_NAME_LIMIT = 14  # characters
LINK_LIMIT = 500  # characters, after substitution
TEL_LIMIT = 14  # digits and hyphens (NHN refuses longer or other characters)
SMS_LIMIT_BYTES = 90  # EUC-KR
LMS_LIMIT_BYTES = 2000  # EUC-KR
LMS_TITLE_LIMIT_BYTES = 40  # EUC-KR; the common carrier limit for an LMS subject
FAILOVER_ENCODING = "euc_kr"

VARIABLE = re.compile(r"#\{([^{}]+)\}")
# Anything still looking like a slot after substitution (also `#{}`) is an unfilled variable.
LEFTOVER = re.compile(r"#\{[^{}]*\}")
_TEL = re.compile(r"[0-9-]+")
_LINK_SCHEMES = ("http://", "https://")


class TemplateRuleError(ValueError):
    """A message (or a template file) that breaks one of Kakao's rules; `rule` names it."""

    def __init__(self, rule: str, detail: str) -> None:
        super().__init__(f"{rule}: {detail}")
        self.rule = rule
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Button:
    """A button as approved (with `#{...}` slots in links) or as rendered (slots filled)."""

    type: ButtonType
    name: str
    link_mo: str | None = None
    link_pc: str | None = None
    tel_number: str | None = None

    def to_json(self, ordering: int) -> dict[str, Any]:
        """The dealer's button shape (NHN: ordering, type, name, linkMo, linkPc, telNumber)."""
        out: dict[str, Any] = {"ordering": ordering, "type": self.type, "name": self.name}
        if self.link_mo is not None:
            out["linkMo"] = self.link_mo
        if self.link_pc is not None:
            out["linkPc"] = self.link_pc
        if self.tel_number is not None:
            out["telNumber"] = self.tel_number
        return out

    def slots(self) -> tuple[str, ...]:
        """The texts of this button that may carry variables (links and the phone number)."""
        return tuple(s for s in (self.link_mo, self.link_pc, self.tel_number) if s is not None)


@dataclass(frozen=True, slots=True)
class Template:
    code: str
    kind: TemplateKind
    text: str
    buttons: tuple[Button, ...]
    resend_title: str
    resend_text: str

    @property
    def variables(self) -> tuple[str, ...]:
        """The variable names of the message (text, then buttons), each once, in order of use."""
        return _names([self.text, *(slot for button in self.buttons for slot in button.slots())])


@dataclass(frozen=True, slots=True)
class Rendered:
    """A message ready to send: what the citizen sees, and the failover the dealer would send."""

    code: str
    text: str
    buttons: tuple[Button, ...]
    resend_title: str | None  # LMS only
    resend_text: str
    resend_type: ResendType


def _names(texts: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for text in texts:
        for name in VARIABLE.findall(text):
            seen.setdefault(name, None)
    return tuple(seen)


def _substitute(text: str, params: Mapping[str, str]) -> str:
    """Replace each `#{name}` that has a parameter, in one pass (values are never re-scanned)."""
    return VARIABLE.sub(lambda m: params.get(m.group(1), m.group(0)), text)


def _count(n: int) -> str:
    return f"{n:,}"


def euc_kr_bytes(text: str, what: str) -> int:
    """The length of `text` in EUC-KR; TemplateRuleError if a character has no EUC-KR code.

    Only the KS X 1001 repertoire counts: Python's codec writes a Hangul syllable outside the 2,350
    (e.g. "똠") as an 8-byte jamo sequence that phones show as garbage, so that is refused too.
    """
    size = 0
    for ch in text:
        if ord(ch) < 0x80:
            size += 1
            continue
        try:
            encoded = ch.encode(FAILOVER_ENCODING)
        except UnicodeEncodeError:
            encoded = b""
        if len(encoded) != 2:
            raise TemplateRuleError(
                "failover_not_encodable", f"{what} has U+{ord(ch):04X} ({ch!r}), which EUC-KR cannot encode"
            )
        size += 2
    return size


def _text_pattern(template_text: str) -> re.Pattern[str]:
    """The template as a regex: literal text, each variable a group (a repeated one must repeat)."""
    parts: list[str] = []
    groups: dict[str, str] = {}
    last = 0
    for match in VARIABLE.finditer(template_text):
        parts.append(re.escape(template_text[last : match.start()]))
        name = match.group(1)
        if name in groups:
            parts.append(f"(?P={groups[name]})")
        else:
            groups[name] = f"v{len(groups)}"
            parts.append(f"(?P<{groups[name]}>.*?)")
        last = match.end()
    parts.append(re.escape(template_text[last:]))
    return re.compile("".join(parts), re.DOTALL)


def _check_button_shape(button: Button, where: str) -> None:
    """Rules on a button that hold for the template and for the rendered message alike."""
    if button.type not in ("WL", "TN"):
        raise TemplateRuleError("button_type_unknown", f"{where} has type {button.type!r} (WL or TN)")
    if not button.name.strip():
        raise TemplateRuleError("button_name_missing", f"{where} has no name")
    if len(button.name) > BUTTON_NAME_LIMIT:
        raise TemplateRuleError(
            "button_name_too_long",
            f"{where} name {button.name!r} is {len(button.name)} > {BUTTON_NAME_LIMIT} characters",
        )
    if button.type == "WL" and not (button.link_mo or "").strip():
        raise TemplateRuleError("button_link_missing", f"{where} is a web link (WL) without linkMo")
    if button.type == "TN" and not (button.tel_number or "").strip():
        raise TemplateRuleError("button_tel_missing", f"{where} is a call button (TN) without telNumber")


def check(template: Template, rendered: Rendered) -> None:
    """Refuse a rendered message Kakao (or the SMS failover) would refuse: TemplateRuleError."""
    pieces = [("body", rendered.text)]
    for i, button in enumerate(rendered.buttons, 1):
        pieces += [(f"button {i}", slot) for slot in button.slots()]
    pieces.append(("failover text", rendered.resend_text))
    pieces += [("failover title", rendered.resend_title)] if rendered.resend_title is not None else []
    for what, text in pieces:
        leftover = LEFTOVER.search(text)
        if leftover is not None:
            raise TemplateRuleError("unfilled_variable", f"{leftover.group(0)} left in the {what}")
    if rendered.code != template.code:
        raise TemplateRuleError(
            "template_mismatch", f"rendered {rendered.code!r}, template {template.code!r}"
        )
    if _text_pattern(template.text).fullmatch(rendered.text) is None:
        raise TemplateRuleError(
            "text_mismatch", f"the body differs from template {template.code} beyond its variables"
        )
    if len(rendered.text) > BODY_LIMIT:
        raise TemplateRuleError(
            "body_too_long", f"{_count(len(rendered.text))} > {_count(BODY_LIMIT)} characters"
        )
    _check_buttons(template, rendered.buttons)
    _check_failover(rendered)


def _check_buttons(template: Template, buttons: tuple[Button, ...]) -> None:
    if len(buttons) > BUTTON_LIMIT:
        raise TemplateRuleError("too_many_buttons", f"{len(buttons)} > {BUTTON_LIMIT} buttons")
    if len(buttons) != len(template.buttons):
        raise TemplateRuleError(
            "buttons_mismatch",
            f"{len(buttons)} buttons, template {template.code} has {len(template.buttons)}",
        )
    for i, (button, approved) in enumerate(zip(buttons, template.buttons, strict=True), 1):
        where = f"button {i}"
        if (button.type, button.name) != (approved.type, approved.name):
            raise TemplateRuleError(
                "buttons_mismatch", f"{where} is {button.type} {button.name!r}, approved {approved.name!r}"
            )
        _check_button_shape(button, where)
        if _is_verify_button(approved) and not _VERIFY_LINK.fullmatch(button.link_mo or ""):
            raise TemplateRuleError(
                "verify_link_invalid", f"{where} must open the public /verify page (…/verify?code=…)"
            )
        for label, link in (("linkMo", button.link_mo), ("linkPc", button.link_pc)):
            if link is None:
                continue
            if len(link) > LINK_LIMIT:
                raise TemplateRuleError(
                    "button_link_too_long",
                    f"{where} {label} is {_count(len(link))} > {LINK_LIMIT} characters",
                )
            if not link.startswith(_LINK_SCHEMES):
                raise TemplateRuleError("button_link_scheme", f"{where} {label} must start with http(s)://")
        if _is_card_news_button(approved) and not _CARD_NEWS_LINK.fullmatch(button.link_mo or ""):
            raise TemplateRuleError(
                "card_news_link_invalid", f"{where} must open the public card-news page (…/c/<slug>?t=…)"
            )
        if button.tel_number is not None and not (
            _TEL.fullmatch(button.tel_number) and len(button.tel_number) <= TEL_LIMIT
        ):
            raise TemplateRuleError(
                "button_tel_invalid", f"{where} telNumber must be digits and hyphens, at most {TEL_LIMIT}"
            )


def _is_verify_button(button: Button) -> bool:
    return button.type == "WL" and f"#{{{VERIFY_VARIABLE}}}" in (button.link_mo or "")


def _is_card_news_button(button: Button) -> bool:
    return button.type == "WL" and button.link_mo == f"#{{{CARD_NEWS_VARIABLE}}}"


def _check_card_news_buttons(template: Template, source: str) -> None:
    """A button named for the card news opens it: a web link (WL) whose linkMo is the card-news
    page variable alone (its link is then checked on every rendered message)."""
    for i, button in enumerate(template.buttons, 1):
        if CARD_NEWS_WORD in button.name and not _is_card_news_button(button):
            raise TemplateRuleError(
                "card_news_button_invalid",
                f"{source} button {i} {button.name!r} must be a web link (WL) whose linkMo is "
                f"#{{{CARD_NEWS_VARIABLE}}} (the public card-news page)",
            )


def _check_verify_button(template: Template, source: str) -> None:
    """A template that mentions 확인코드 carries the button to /verify (the code is of no use without)."""
    mentions = any(VERIFY_WORD in text for text in (template.text, template.resend_text))
    if mentions and not any(_is_verify_button(b) for b in template.buttons):
        raise TemplateRuleError(
            "verify_button_missing",
            f"{source} mentions {VERIFY_WORD} but has no web-link (WL) button whose linkMo is "
            f"#{{{VERIFY_VARIABLE}}} (the public /verify page)",
        )


def _check_failover(rendered: Rendered) -> None:
    size = euc_kr_bytes(rendered.resend_text, "the failover text")
    if not rendered.resend_text.strip():
        raise TemplateRuleError("failover_empty", "the failover text is empty")
    if rendered.resend_type == "SMS":
        if size > SMS_LIMIT_BYTES:
            raise TemplateRuleError(
                "sms_too_long", f"{_count(size)} > {SMS_LIMIT_BYTES} bytes EUC-KR (use LMS)"
            )
        return
    if size > LMS_LIMIT_BYTES:
        raise TemplateRuleError("lms_too_long", f"{_count(size)} > {_count(LMS_LIMIT_BYTES)} bytes EUC-KR")
    title = rendered.resend_title or ""
    title_size = euc_kr_bytes(title, "the failover title")
    if not title.strip():
        raise TemplateRuleError("lms_title_missing", "an LMS failover needs a title")
    if title_size > LMS_TITLE_LIMIT_BYTES:
        raise TemplateRuleError("lms_title_too_long", f"{title_size} > {LMS_TITLE_LIMIT_BYTES} bytes EUC-KR")


def render(template: Template, params: Mapping[str, str]) -> Rendered:
    """Substitute `params` into the template and its failover text, then `check` the result.

    A parameter the template does not use is refused (`unknown_variable`): it means the caller
    and the approved template disagree, which Kakao answers with 3034.
    """
    known = set(template.variables)
    unknown = sorted(name for name in params if name not in known)
    if unknown:
        names = ", ".join(f"#{{{name}}}" for name in unknown)
        raise TemplateRuleError("unknown_variable", f"{names} not in template {template.code}")
    for name, value in params.items():
        if not isinstance(value, str):
            raise TemplateRuleError("variable_not_text", f"#{{{name}}} is {type(value).__name__}, not str")
    buttons = tuple(
        Button(
            type=b.type,
            name=b.name,
            link_mo=None if b.link_mo is None else _substitute(b.link_mo, params),
            link_pc=None if b.link_pc is None else _substitute(b.link_pc, params),
            tel_number=None if b.tel_number is None else _substitute(b.tel_number, params),
        )
        for b in template.buttons
    )
    resend_text = _substitute(template.resend_text, params)
    # SMS when the failover fits one short message; LMS (with a title) otherwise.
    try:
        is_sms = euc_kr_bytes(resend_text, "the failover text") <= SMS_LIMIT_BYTES
    except TemplateRuleError:
        is_sms = False  # `check` names the character
    rendered = Rendered(
        code=template.code,
        text=_substitute(template.text, params),
        buttons=buttons,
        resend_title=None if is_sms else _substitute(template.resend_title, params),
        resend_text=resend_text,
        resend_type="SMS" if is_sms else "LMS",
    )
    check(template, rendered)
    return rendered


# ---- loading ---------------------------------------------------------------------------------


def _button_from_json(raw: object, where: str) -> Button:
    if not isinstance(raw, dict):
        raise TemplateRuleError("template_invalid", f"{where} is not an object")
    allowed = {"type", "name", "linkMo", "linkPc", "telNumber"}
    extra = sorted(set(raw) - allowed)
    if extra:
        raise TemplateRuleError("template_invalid", f"{where} has unknown fields {extra}")
    values = {key: raw.get(key) for key in allowed}
    for key, value in values.items():
        if value is not None and not isinstance(value, str):
            raise TemplateRuleError("template_invalid", f"{where} {key} must be a string")
    button = Button(
        type=values["type"] or "",  # type: ignore[arg-type]  # checked by _check_button_shape
        name=values["name"] or "",
        link_mo=values["linkMo"],
        link_pc=values["linkPc"],
        tel_number=values["telNumber"],
    )
    _check_button_shape(button, where)
    if VARIABLE.search(button.name):
        raise TemplateRuleError("button_name_variable", f"{where} name cannot carry a variable")
    if button.type == "TN" and (button.link_mo or button.link_pc):
        raise TemplateRuleError("template_invalid", f"{where} is a call button (TN) with a link")
    if button.type == "WL" and button.tel_number:
        raise TemplateRuleError("template_invalid", f"{where} is a web link (WL) with a telNumber")
    return button


def template_from_json(raw: object, source: str = "template") -> Template:
    """Build and validate one template from its JSON object (TemplateRuleError if it is unusable)."""
    if not isinstance(raw, dict):
        raise TemplateRuleError("template_invalid", f"{source} is not a JSON object")
    required = ("code", "kind", "text", "buttons", "resend_title", "resend_text")
    missing = [key for key in required if key not in raw]
    if missing:
        raise TemplateRuleError("template_invalid", f"{source} lacks {missing}")
    extra = sorted(set(raw) - set(required))
    if extra:
        raise TemplateRuleError("template_invalid", f"{source} has unknown fields {extra}")
    for key in ("code", "kind", "text", "resend_title", "resend_text"):
        if not isinstance(raw[key], str) or not raw[key]:
            raise TemplateRuleError("template_invalid", f"{source} {key} must be a non-empty string")
    if raw["kind"] not in KINDS:
        raise TemplateRuleError("template_invalid", f"{source} kind {raw['kind']!r} not in {KINDS}")
    if not isinstance(raw["buttons"], list):
        raise TemplateRuleError("template_invalid", f"{source} buttons must be a list")
    buttons = tuple(_button_from_json(b, f"{source} button {i}") for i, b in enumerate(raw["buttons"], 1))
    if len(buttons) > BUTTON_LIMIT:
        raise TemplateRuleError("too_many_buttons", f"{source} has {len(buttons)} > {BUTTON_LIMIT} buttons")
    template = Template(
        code=raw["code"],
        kind=raw["kind"],
        text=raw["text"],
        buttons=buttons,
        resend_title=raw["resend_title"],
        resend_text=raw["resend_text"],
    )
    if len(template.text) > BODY_LIMIT:
        raise TemplateRuleError(
            "body_too_long",
            f"{source} text is {_count(len(template.text))} > {_count(BODY_LIMIT)} characters",
        )
    known = set(template.variables)
    stray = [n for n in _names([template.resend_title, template.resend_text]) if n not in known]
    if stray:
        raise TemplateRuleError(
            "template_invalid", f"{source} failover uses variables not in the message: {stray}"
        )
    _check_verify_button(template, source)
    _check_card_news_buttons(template, source)
    return template


@lru_cache(maxsize=8)
def _load(directory: Path) -> Mapping[str, Template]:
    found: dict[str, Template] = {}
    for path in sorted(directory.glob("*.json")):
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise TemplateRuleError("template_invalid", f"{path.name}: {exc}") from exc
        template = template_from_json(raw, path.name)
        if template.code != path.stem:
            raise TemplateRuleError("template_invalid", f"{path.name} holds code {template.code!r}")
        found[template.code] = template
    return MappingProxyType(found)


def load_templates(directory: Path | str | None = None) -> Mapping[str, Template]:
    """Every template file in `directory` (default: the shipped ones) by code; read once, cached."""
    return _load(Path(directory or TEMPLATE_DIR).resolve())
