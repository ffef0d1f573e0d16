"""The phone preview: a PNG of the ringing screen as one carrier would show a campaign's lettering.

Editors see it before they submit, so it must show what the phone will show: the texts are cut exactly
as that carrier's adapter cuts them (`preview_texts`, using the adapters' own limits and
`carriers.text.fit_text`), and the image is the carrier's rendition placed in that carrier's layout:

- skt: the 9:16 image fills the screen behind the texts;
- kt: name and department on top, the 9:16 image as a card, the guidance under it;
- lgu: one title line (agency and department, as the adapter sends it), a 2:3 image card, the body.

Hangul is drawn with Noto Sans KR from the `pylopdf-fonts-ko` package (SIL OFL 1.1), so the preview
never shows tofu boxes; without that package a system font that has Hangul is used (fc-match), and
with neither the preview refuses to draw rather than draw boxes. Rendering is CPU-bound: async callers
use `asyncio.to_thread`.
"""

from __future__ import annotations

import functools
import io
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, features

from campaigns.media import MediaRefused
from carriers import kt, lgu, skt
from carriers.text import ELLIPSIS, fit_text, graphemes, guidance_with_code
from lettering.core.templates import with_particle

CANVAS = (540, 1040)
SCREEN = (450, 800)  # 9:16, like the carriers' frames
SCREEN_ORIGIN = ((CANVAS[0] - SCREEN[0]) // 2, 120)
MARGIN = 24
BUTTONS_Y = 700  # centre of the accept / decline buttons, on the screen
MAX_IMAGE_PIXELS = 40_000_000

CARRIER_LABELS = {"skt": "SKT", "kt": "KT", "lgu": "LG U+"}
ACCENTS = {"skt": (234, 0, 44), "kt": (230, 0, 18), "lgu": (230, 0, 126)}
WHITE = (255, 255, 255)
SOFT = (203, 213, 225)
# A character no font has a real glyph for: what the font draws for it is its .notdef ("tofu") box.
_MISSING = "\U000f0000"


@dataclass(frozen=True, slots=True)
class PreviewText:
    """The texts as the carrier's adapter sends them: `title` big, then `subtitle`, then `message`."""

    title: str
    subtitle: str
    message: str


# A call's code is drawn on the preview as on the phone (each call gets its own; this one is a sample).
SAMPLE_VERIFY_CODE = "A1B2C3"


def preview_texts(
    carrier: str, agency: str, department: str, guidance: str, verify_code: str = ""
) -> PreviewText:
    """Cut the texts the way that carrier's adapter does (same limits, same functions), the call's
    verify code after the guidance where the adapter puts it."""
    notes: list[str] = []
    if carrier == "skt":
        return PreviewText(
            fit_text(agency, skt.NAME_LIMIT)[0],
            fit_text(department, skt.SUBTITLE_LIMIT)[0],
            guidance_with_code(carrier, "message", guidance, verify_code, skt.MESSAGE_LIMIT, notes),
        )
    if carrier == "kt":
        return PreviewText(
            fit_text(agency, kt.CALLER_NAME_LIMIT)[0],
            fit_text(department, kt.DEPT_NAME_LIMIT)[0],
            guidance_with_code(carrier, "guideText", guidance, verify_code, kt.GUIDE_TEXT_LIMIT, notes),
        )
    if carrier == "lgu":
        title = " ".join(part for part in (agency, department) if part)
        return PreviewText(
            fit_text(title, lgu.TITLE_LIMIT)[0],
            "",
            guidance_with_code(carrier, "body", guidance, verify_code, lgu.BODY_LIMIT, notes),
        )
    raise ValueError(f"unknown carrier {carrier!r}")


_FIELD_NAMES = {"agency": "기관명", "department": "부서명", "title": "제목", "guidance": "안내 문구"}


def cut_warnings(agency: str, department: str, guidance: str) -> list[str]:
    """What each carrier's limits cut, in the editor's words: '…KT: 안내 문구가 60자를 넘어 잘립니다'.
    The same fits as the adapters (and `preview_texts`), the sample code after the guidance."""
    code = SAMPLE_VERIFY_CODE
    room = len(f" 확인코드 {code}")
    fields = {
        "skt": (
            ("agency", agency, skt.NAME_LIMIT),
            ("department", department, skt.SUBTITLE_LIMIT),
            ("guidance", guidance, skt.MESSAGE_LIMIT - room),
        ),
        "kt": (
            ("agency", agency, kt.CALLER_NAME_LIMIT),
            ("department", department, kt.DEPT_NAME_LIMIT),
            ("guidance", guidance, kt.GUIDE_TEXT_LIMIT - room),
        ),
        "lgu": (
            ("title", " ".join(part for part in (agency, department) if part), lgu.TITLE_LIMIT),
            ("guidance", guidance, lgu.BODY_LIMIT - room),
        ),
    }
    out: list[str] = []
    for carrier, checks in fields.items():
        for name, text, limit in checks:
            fitted, cut = fit_text(text, limit)
            if cut:
                label = _FIELD_NAMES[name]
                room_note = "(확인코드 자리를 뺀 길이)" if name == "guidance" else ""
                out.append(
                    f"{CARRIER_LABELS[carrier]}: {with_particle(label, '이')} {limit}자{room_note}를 넘어 "
                    f"「{fitted}」처럼 잘려 보입니다"
                )
    return out


# --- Fonts ------------------------------------------------------------------------------------------


def _glyph(font: ImageFont.FreeTypeFont, text: str) -> tuple[tuple[int, int], bytes]:
    mask = font.getmask(text)
    return mask.size, bytes(mask)


def renders_hangul(font: ImageFont.FreeTypeFont) -> bool:
    """True when the font draws real, distinct Hangul glyphs rather than its .notdef box."""
    tofu = _glyph(font, _MISSING)
    han, bit = _glyph(font, "한"), _glyph(font, "빛")
    return han != tofu and bit != tofu and han != bit


def _packaged_font() -> Path | None:
    try:
        import pylopdf_fonts_ko
    except ImportError:
        return None
    path = pylopdf_fonts_ko.sans_path()
    return path if path.is_file() else None


def _system_font() -> Path | None:
    fc_match = shutil.which("fc-match")
    if fc_match is None:
        return None
    try:
        found = subprocess.run(
            [fc_match, "--format=%{file}", ":lang=ko"], capture_output=True, text=True, timeout=5, check=False
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(found) if found and Path(found).is_file() else None


@functools.cache
def korean_font_path() -> Path:
    """The font file used for previews: the packaged Noto Sans KR, else a system font with Hangul."""
    for path in (_packaged_font(), _system_font()):
        if path is not None and renders_hangul(ImageFont.truetype(str(path), 24)):
            return path
    raise RuntimeError("no font with Hangul found: install the pylopdf-fonts-ko package")


_LAYOUT = ImageFont.Layout.RAQM if features.check("raqm") else ImageFont.Layout.BASIC


@functools.cache
def font(size: int) -> ImageFont.FreeTypeFont:
    """The Korean font at `size` pixels (cached: loading a CJK font takes milliseconds)."""
    return ImageFont.truetype(str(korean_font_path()), size, layout_engine=_LAYOUT)


# --- Text layout ------------------------------------------------------------------------------------


def _tokens(paragraph: str, face: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """Words with their trailing spaces; a word wider than a line is split into graphemes."""
    out: list[str] = []
    for word in re.findall(r"\S+\s*|\s+", paragraph):
        if face.getlength(word.rstrip()) <= width:
            out.append(word)
        else:
            out.extend(graphemes(word))
    return out


def wrap(text: str, face: ImageFont.FreeTypeFont, width: int, max_lines: int) -> list[str]:
    """Greedy line breaking at spaces (inside a word only when it is wider than a line)."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for token in _tokens(paragraph, face, width):
            if line and face.getlength((line + token).rstrip()) > width:
                lines.append(line.rstrip())
                line = token.lstrip()
            else:
                line += token
        lines.append(line.rstrip())
    if len(lines) > max_lines:
        last = graphemes(lines[max_lines - 1])
        while last and face.getlength("".join(last) + ELLIPSIS) > width:
            last.pop()
        lines = [*lines[: max_lines - 1], "".join(last).rstrip() + ELLIPSIS]
    return lines


def _draw_lines(
    draw: ImageDraw.ImageDraw,
    lines: list[str],
    y: int,
    size: int,
    fill: tuple[int, int, int],
    bold: bool = False,
) -> int:
    """Draw centred lines from `y`; return the y below them."""
    face = font(size)
    line_height = round(size * 1.35)
    for line in lines:
        draw.text(
            (SCREEN[0] // 2, y),
            line,
            font=face,
            fill=fill,
            anchor="mt",
            stroke_width=1 if bold else 0,
            stroke_fill=fill,
        )
        y += line_height
    return y


def _text_height(lines: list[str], size: int) -> int:
    return len(lines) * round(size * 1.35)


# --- Pieces of the screen ---------------------------------------------------------------------------


def _decode(image: bytes) -> Image.Image:
    """The rendition as RGB; it came from make_rendition, but a preview never trusts bytes blindly."""
    try:
        img = Image.open(io.BytesIO(image), formats=["JPEG", "PNG"])
        if img.width * img.height > MAX_IMAGE_PIXELS:
            raise MediaRefused("dimensions_too_large", "이미지가 너무 큽니다.")
        return img.convert("RGB")
    except MediaRefused:
        raise
    except Exception as exc:  # any decoder failure
        raise MediaRefused("corrupt", "이미지가 손상되어 열 수 없습니다. 다른 파일을 올려 주세요.") from exc


def _contain(img: Image.Image, box: tuple[int, int], background: tuple[int, int, int]) -> Image.Image:
    """`img` fitted inside `box` (aspect kept, centred), on `background`."""
    scale = min(box[0] / img.width, box[1] / img.height)
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    card = Image.new("RGB", box, background)
    card.paste(img.resize(size, Image.Resampling.LANCZOS), ((box[0] - size[0]) // 2, (box[1] - size[1]) // 2))
    return card


def _rounded(img: Image.Image, radius: int) -> Image.Image:
    mask = Image.new("L", img.size, 0)
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, img.width - 1, img.height - 1), radius, fill=255)
    out = img.convert("RGBA")
    out.putalpha(mask)
    return out


def _background() -> Image.Image:
    top, bottom = (31, 41, 55), (8, 12, 22)
    gradient = Image.linear_gradient("L").resize(SCREEN)
    return Image.composite(Image.new("RGB", SCREEN, bottom), Image.new("RGB", SCREEN, top), gradient)


def _scrim(screen: Image.Image, top: int, bottom: int, alpha: int) -> None:
    """Darken a band of the screen so white text stays readable over a photo."""
    band = Image.new("RGBA", (SCREEN[0], bottom - top), (0, 0, 0, alpha))
    screen.paste(band, (0, top), band)


def _status_bar(draw: ImageDraw.ImageDraw, carrier: str) -> None:
    small = font(15)
    draw.text((MARGIN, 10), "9:41", font=small, fill=WHITE)
    right = SCREEN[0] - MARGIN
    draw.rounded_rectangle((right - 26, 12, right, 24), 3, outline=WHITE, width=2)  # battery
    draw.rectangle((right - 23, 15, right - 8, 21), fill=WHITE)
    for i in range(4):  # signal bars
        x = right - 64 + i * 6
        draw.rectangle((x, 24 - 4 - i * 3, x + 3, 24), fill=WHITE)
    label = CARRIER_LABELS[carrier]
    draw.text((right - 72, 10), label, font=small, fill=WHITE, anchor="ra")


def _handset(size: int, angle: float) -> Image.Image:
    """A simple white telephone handset, rotated by `angle` degrees."""
    icon = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(icon)
    s = size
    draw.arc((s * 0.12, s * 0.12, s * 0.88, s * 0.88), 200, 340, fill=WHITE, width=max(3, s // 7))
    draw.rounded_rectangle((s * 0.08, s * 0.42, s * 0.34, s * 0.58), s // 12, fill=WHITE)
    draw.rounded_rectangle((s * 0.66, s * 0.42, s * 0.92, s * 0.58), s // 12, fill=WHITE)
    return icon.rotate(angle, resample=Image.Resampling.BICUBIC)


def _buttons(screen: Image.Image) -> None:
    draw = ImageDraw.Draw(screen)
    radius = 34
    for centre_x, colour, label, angle in (
        (SCREEN[0] * 27 // 100, (239, 68, 68), "거절", 0.0),
        (SCREEN[0] * 73 // 100, (34, 197, 94), "응답", 30.0),
    ):
        draw.ellipse(
            (centre_x - radius, BUTTONS_Y - radius, centre_x + radius, BUTTONS_Y + radius), fill=colour
        )
        icon = _handset(40, angle)
        screen.paste(icon, (centre_x - 20, BUTTONS_Y - 20), icon)
        draw.text((centre_x, BUTTONS_Y + radius + 10), label, font=font(15), fill=WHITE, anchor="mt")


def _caller(draw: ImageDraw.ImageDraw, carrier: str, caller_number: str | None, y: int) -> int:
    draw.text((SCREEN[0] // 2, y), "수신 전화", font=font(15), fill=SOFT, anchor="mt")
    number = caller_number or "대표번호"
    draw.text((SCREEN[0] // 2, y + 24), number, font=font(22), fill=WHITE, anchor="mt")
    accent = ACCENTS[carrier]
    draw.rounded_rectangle((SCREEN[0] // 2 - 40, y + 58, SCREEN[0] // 2 + 40, y + 61), 2, fill=accent)
    return y + 74


def _screen(
    carrier: str, texts: PreviewText, image: Image.Image | None, caller_number: str | None
) -> Image.Image:
    screen = _background()
    width = SCREEN[0] - 2 * MARGIN
    title = wrap(texts.title, font(32), width, 3)
    subtitle = wrap(texts.subtitle, font(20), width, 2) if texts.subtitle else []
    message = wrap(texts.message, font(18), width, 4) if texts.message else []
    buttons_top = BUTTONS_Y - 34 - 24

    if carrier == "skt":
        if image is not None:
            screen.paste(_contain(image, SCREEN, (0, 0, 0)), (0, 0))
        header = 38 + 74 + _text_height(title, 32) + 8 + _text_height(subtitle, 20) + 12
        header += _text_height(message, 18) + 16
        _scrim(screen, 0, header, 150 if image is not None else 0)
        _scrim(screen, buttons_top - 16, SCREEN[1], 120 if image is not None else 0)
        draw = ImageDraw.Draw(screen)
        y = _caller(draw, carrier, caller_number, 38)
        y = _draw_lines(draw, title, y, 32, WHITE, bold=True) + 8
        y = _draw_lines(draw, subtitle, y, 20, SOFT) + 12
        _draw_lines(draw, message, y, 18, WHITE)
    else:
        draw = ImageDraw.Draw(screen)
        y = _caller(draw, carrier, caller_number, 38)
        y = _draw_lines(draw, title, y, 32 if carrier == "kt" else 28, WHITE, bold=True) + 6
        y = _draw_lines(draw, subtitle, y, 20, SOFT) + 14
        message_top = buttons_top - _text_height(message, 18) - 8
        if image is not None:
            ratio = (9, 16) if carrier == "kt" else (2, 3)
            slot_height = max(60, message_top - 14 - y)
            slot = (min(width, slot_height * ratio[0] // ratio[1]), slot_height)
            card = _rounded(_contain(image, slot, (17, 24, 39)), 16)
            screen.paste(card, ((SCREEN[0] - slot[0]) // 2, y), card)
        else:
            message_top = y + 10
        _draw_lines(draw, message, message_top, 18, WHITE)
    _status_bar(ImageDraw.Draw(screen), carrier)
    _buttons(screen)
    return screen


def phone_preview(
    carrier: str,
    agency: str,
    department: str,
    guidance: str,
    image: bytes | None,
    *,
    caller_number: str | None = None,
    verify_code: str = SAMPLE_VERIFY_CODE,
) -> bytes:
    """A PNG of the ringing phone for `carrier`; `image` is that carrier's rendition (or None).

    CPU-bound: async callers use `asyncio.to_thread`.
    """
    texts = preview_texts(carrier, agency, department, guidance, verify_code)
    decoded = _decode(image) if image is not None else None
    canvas = Image.new("RGB", CANVAS, (238, 240, 243))
    draw = ImageDraw.Draw(canvas)
    left, top = SCREEN_ORIGIN
    body = (left - 22, top - 84, left + SCREEN[0] + 22, top + SCREEN[1] + 84)
    draw.rounded_rectangle(body, 58, fill=(17, 19, 24), outline=(70, 74, 84), width=3)
    draw.rounded_rectangle(
        (CANVAS[0] // 2 - 44, top - 46, CANVAS[0] // 2 + 44, top - 38), 4, fill=(60, 64, 72)
    )
    screen = _rounded(_screen(carrier, texts, decoded, caller_number), 26)
    canvas.paste(screen, (left, top), screen)
    out = io.BytesIO()
    canvas.save(out, "PNG")
    return out.getvalue()
