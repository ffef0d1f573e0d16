"""The phone preview: real Hangul glyphs (no tofu), texts cut as the adapters cut them, the image shown."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from typing import Any

import httpx
import pytest
from PIL import Image, ImageChops, ImageDraw, ImageFont
from pydantic import SecretStr

from campaigns.preview import (
    CANVAS,
    SCREEN,
    SCREEN_ORIGIN,
    font,
    korean_font_path,
    phone_preview,
    preview_texts,
    renders_hangul,
    wrap,
)
from campaigns.renditions import make_rendition
from carriers.base import Lettering
from carriers.breaker import Breaker
from carriers.kt import KtAdapter
from carriers.lgu import LguAdapter
from carriers.skt import SktAdapter
from carriers.text import ELLIPSIS, fit_text
from lettering.core.settings import KtSettings, LguSettings, SktSettings
from tests import media_corpus as corpus

CARRIERS = ("skt", "kt", "lgu")
MISSING = "\U000f0000"  # no font has a glyph for it: what is drawn is the .notdef box
AGENCY = "한빛특례시"
LONG_GUIDANCE = (
    "여권 발급 관련 안내 전화입니다. 방문 전에 온라인 예약을 꼭 해 주시고, "
    "신분증과 사진을 챙겨 오세요. 감사합니다."
)


def _image(png: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(png))
    assert img.format == "PNG"
    return img.convert("RGB")


def _render_text(face: ImageFont.FreeTypeFont, text: str) -> Image.Image:
    img = Image.new("L", (400, 80), 0)
    ImageDraw.Draw(img).text((10, 10), text, font=face, fill=255)
    return img


def _diff_box(a: Image.Image, b: Image.Image) -> tuple[int, int, int, int] | None:
    return ImageChops.difference(a, b).getbbox()


# --- The font ---------------------------------------------------------------------------------------


def test_the_korean_font_is_installed_and_has_hangul() -> None:
    path = korean_font_path()
    assert path.is_file()
    face = font(32)
    assert face.getname()[0] == "Noto Sans KR"  # pylopdf-fonts-ko, a project dependency
    han = face.getmask("한")
    tofu = face.getmask(MISSING)
    assert han.getbbox() is not None
    assert (han.size, bytes(han)) != (tofu.size, bytes(tofu))
    assert renders_hangul(face)


def test_the_tofu_check_catches_a_font_without_hangul() -> None:
    latin_only = ImageFont.load_default(24)  # Pillow's bundled Latin font
    if not isinstance(latin_only, ImageFont.FreeTypeFont):
        pytest.skip("Pillow built without FreeType")
    assert not renders_hangul(latin_only)


def test_hangul_renders_as_distinct_glyphs_not_boxes() -> None:
    face = font(32)
    hangul = _render_text(face, AGENCY)
    boxes = _render_text(face, MISSING * len(AGENCY))
    assert hangul.getbbox() is not None
    assert _diff_box(hangul, boxes) is not None
    # Five different syllables draw five different shapes; five boxes would be identical.
    glyphs = {bytes(face.getmask(ch)) for ch in AGENCY}
    assert len(glyphs) == len(AGENCY)


# --- Texts: what the adapter will send --------------------------------------------------------------


def _lettering(agency: str, department: str, guidance: str) -> Lettering:
    return Lettering(
        request_id="req-1",
        caller="+823151802114",
        callee="+821001231250",
        agency_name=agency,
        department_name=department,
        guidance=guidance,
    )


async def _adapter_texts(carrier: str, lettering: Lettering) -> tuple[str, str, str]:
    async with httpx.AsyncClient() as client:
        breaker = Breaker(3, 10.0)
        if carrier == "skt":
            skt = SktAdapter(
                SktSettings(client_id="c", client_secret=SecretStr("s")), "http://x", client, breaker
            )
            display = skt._prepare(lettering).payload["display"]
            return display["name"], display["subtitle"], display["message"]
        if carrier == "kt":
            kt = KtAdapter(KtSettings(api_key="k", secret=SecretStr("s")), "http://x", client, breaker)
            body: dict[str, Any] = json.loads(kt._prepare(lettering).payload)
            return body["callerName"], body["deptName"], body["guideText"]
        lgu = LguAdapter(
            LguSettings(api_key=SecretStr("k"), callback_secret=SecretStr("c")), "http://x", client, breaker
        )
        payload = lgu._prepare(lettering).payload
        return payload["title"], "", payload["body"]


@pytest.mark.parametrize("carrier", CARRIERS)
@pytest.mark.parametrize(
    ("agency", "department", "guidance"),
    [
        (AGENCY, "민원여권과", "여권 발급 관련 안내 전화입니다"),
        (
            "한빛특례시 상하수도사업본부 요금관리과",
            "요금관리과 체납징수팀 외 두 팀과 함께",
            LONG_GUIDANCE * 2,
        ),
        ("City of Hanbit 👨‍👩‍👧‍👦 가족센터", "", "🇰🇷" * 40),
    ],
)
async def test_preview_texts_are_what_the_adapter_sends(
    carrier: str, agency: str, department: str, guidance: str
) -> None:
    texts = preview_texts(carrier, agency, department, guidance)
    expected = await _adapter_texts(carrier, _lettering(agency, department, guidance))
    assert (texts.title, texts.subtitle, texts.message) == expected


@pytest.mark.parametrize("carrier", CARRIERS)
def test_long_text_is_cut_in_the_preview_as_on_the_phone(carrier: str) -> None:
    limit = {"skt": 40, "kt": 60, "lgu": 60}[carrier]
    cut, was_cut = fit_text(LONG_GUIDANCE * 2, limit)
    assert was_cut
    assert cut.endswith(ELLIPSIS)
    full = phone_preview(carrier, AGENCY, "민원여권과", LONG_GUIDANCE * 2, None)
    already_cut = phone_preview(carrier, AGENCY, "민원여권과", cut, None)
    assert full == already_cut  # the preview drew exactly the cut text


# --- The picture ------------------------------------------------------------------------------------


def _screen_region(img: Image.Image, top: int, bottom: int) -> Image.Image:
    left, origin_y = SCREEN_ORIGIN
    return img.crop((left, origin_y + top, left + SCREEN[0], origin_y + bottom))


@pytest.mark.parametrize("carrier", CARRIERS)
def test_preview_is_a_png_of_the_phone(carrier: str) -> None:
    img = _image(phone_preview(carrier, AGENCY, "민원여권과", "여권 발급 관련 안내 전화입니다", None))
    assert img.size == CANVAS
    assert img.getpixel((2, 2)) == (238, 240, 243)  # outside the phone
    # The decline (red) and accept (green) buttons are on the screen.
    colours = {colour for _, colour in img.getcolors(CANVAS[0] * CANVAS[1]) or []}
    assert (239, 68, 68) in colours
    assert (34, 197, 94) in colours


@pytest.mark.parametrize("carrier", CARRIERS)
def test_the_agency_name_appears_in_hangul(carrier: str) -> None:
    with_name = _image(phone_preview(carrier, AGENCY, "", "", None))
    without = _image(phone_preview(carrier, "", "", "", None))
    as_boxes = _image(phone_preview(carrier, MISSING * len(AGENCY), "", "", None))
    box = _diff_box(with_name, without)
    assert box is not None
    # The name is drawn in the upper part of the screen, centred.
    left, top, right, bottom = box
    assert SCREEN_ORIGIN[1] + 60 < top < bottom < SCREEN_ORIGIN[1] + 300
    assert abs((left + right) / 2 - CANVAS[0] / 2) < 20
    # Enough ink to be text, and not the same picture as five .notdef boxes.
    ink = ImageChops.difference(with_name, without).convert("L").point(lambda v: 255 if v > 64 else 0)
    assert (ink.histogram()[255]) > 300
    assert _diff_box(with_name, as_boxes) is not None


@pytest.mark.parametrize("carrier", CARRIERS)
def test_department_and_guidance_appear(carrier: str) -> None:
    base = _image(phone_preview(carrier, AGENCY, "", "", None))
    with_department = _image(phone_preview(carrier, AGENCY, "민원여권과", "", None))
    with_guidance = _image(phone_preview(carrier, AGENCY, "", "여권 발급 관련 안내 전화입니다", None))
    assert _diff_box(base, with_department) is not None
    assert _diff_box(base, with_guidance) is not None


@pytest.mark.parametrize("carrier", CARRIERS)
def test_the_rendition_is_shown(carrier: str) -> None:
    green = (10, 200, 60)
    rendition = make_rendition(corpus.encode(Image.new("RGB", (900, 1600), green), "PNG"), carrier)
    img = _image(
        phone_preview(carrier, AGENCY, "민원여권과", "여권 발급 관련 안내 전화입니다", rendition.data)
    )
    screen = _screen_region(img, 0, SCREEN[1])
    close = sum(
        count
        for count, colour in screen.getcolors(SCREEN[0] * SCREEN[1]) or []
        if isinstance(colour, tuple) and all(abs(c - g) <= 40 for c, g in zip(colour, green, strict=True))
    )
    assert close > 10_000  # a sizeable green area: the image, not a few stray pixels


def test_unknown_carrier() -> None:
    with pytest.raises(ValueError, match="unknown carrier"):
        phone_preview("sk", AGENCY, "", "", None)


def test_wrap_keeps_lines_within_the_width() -> None:
    face = font(18)
    lines = wrap(LONG_GUIDANCE, face, 300, 10)
    assert len(lines) > 1
    assert all(face.getlength(line) <= 300 for line in lines)
    assert "".join(lines).replace(" ", "") == LONG_GUIDANCE.replace(" ", "")
    one_long_word = wrap("가" * 80, face, 300, 2)
    assert len(one_long_word) == 2
    assert one_long_word[-1].endswith(ELLIPSIS)


@pytest.mark.parametrize("carrier", CARRIERS)
@pytest.mark.parametrize("guidance", ["여권 발급 관련 안내 전화입니다", LONG_GUIDANCE * 2, ""])
async def test_the_verify_code_is_shown_as_the_adapter_sends_it(carrier: str, guidance: str) -> None:
    lettering = replace(_lettering(AGENCY, "민원여권과", guidance), verify_code="7KQ2MX")
    texts = preview_texts(carrier, AGENCY, "민원여권과", guidance, "7KQ2MX")
    assert (texts.title, texts.subtitle, texts.message) == await _adapter_texts(carrier, lettering)
    assert texts.message.endswith(" 확인코드 7KQ2MX")  # whole, after the guidance
    assert len(texts.message) <= {"skt": 40, "kt": 60, "lgu": 60}[carrier]


@pytest.mark.parametrize("carrier", CARRIERS)
def test_the_preview_draws_a_sample_code(carrier: str) -> None:
    with_code = _image(phone_preview(carrier, AGENCY, "민원여권과", "안내 전화입니다", None))
    without = _image(phone_preview(carrier, AGENCY, "민원여권과", "안내 전화입니다", None, verify_code=""))
    assert _diff_box(with_code, without) is not None
