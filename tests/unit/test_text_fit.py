"""fit_text: within the limit, a prefix of the NFC text plus "…", never cut inside a grapheme."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carriers.text import ELLIPSIS, fit_field, fit_text, graphemes

ZWJ = "\u200d"
VS16 = "\ufe0f"
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # 👨‍👩‍👧‍👦 (7 code points)
THUMBS_DARK = "\U0001f44d\U0001f3ff"  # 👍🏿
FLAG_KR = "\U0001f1f0\U0001f1f7"  # 🇰🇷
HEART = "\u2764\ufe0f"  # ❤️
# Archaic jamo that NFC cannot compose into a syllable: ᄒ + ᆞ + ᆫ (old spelling of 한).
OLD_HAN = "\u1112\u119e\u11ab"


def _hangul(ch: str) -> str:
    cp = ord(ch)
    if 0x1100 <= cp <= 0x115F or 0xA960 <= cp <= 0xA97C:
        return "L"
    if 0x1160 <= cp <= 0x11A7 or 0xD7B0 <= cp <= 0xD7C6:
        return "V"
    if 0x11A8 <= cp <= 0x11FF or 0xD7CB <= cp <= 0xD7FB:
        return "T"
    if 0xAC00 <= cp <= 0xD7A3:
        return "LV" if (cp - 0xAC00) % 28 == 0 else "LVT"
    return ""


def _is_control(ch: str) -> bool:
    category = unicodedata.category(ch)
    if category == "Cf":
        return ch not in (ZWJ, "\u200c") and not 0xE0020 <= ord(ch) <= 0xE007F
    return category in ("Cc", "Zl", "Zp")


def _is_extend(ch: str) -> bool:
    cp = ord(ch)
    return (
        unicodedata.category(ch) in ("Mn", "Me", "Mc")
        or ch == ZWJ
        or 0xFE00 <= cp <= 0xFE0F
        or 0x1F3FB <= cp <= 0x1F3FF
    )


def _is_pictographic(ch: str) -> bool:
    return unicodedata.category(ch) == "So" or ord(ch) >= 0x1F000


def _splits_grapheme(text: str, at: int) -> bool:
    """An oracle written from UAX #29, independent of carriers.text: is `at` inside a grapheme?"""
    if at <= 0 or at >= len(text):
        return False
    before, after = text[at - 1], text[at]
    if _is_control(before) or _is_control(after):
        return before == "\r" and after == "\n"
    hb, ha = _hangul(before), _hangul(after)
    if hb == "L" and ha in ("L", "V", "LV", "LVT"):
        return True
    if hb in ("LV", "V") and ha in ("V", "T"):
        return True
    if hb in ("LVT", "T") and ha == "T":
        return True
    if _is_extend(after):
        return True
    return before == ZWJ and _is_pictographic(after)


def _check(text: str, limit: int) -> None:
    nfc = unicodedata.normalize("NFC", text)
    fitted, cut = fit_text(text, limit)
    if len(nfc) <= limit:
        assert (fitted, cut) == (nfc, False)
        return
    assert cut
    assert len(fitted) <= limit
    if limit <= 0:
        assert fitted == ""
        return
    assert fitted.endswith(ELLIPSIS)
    kept = fitted[: -len(ELLIPSIS)]
    assert nfc.startswith(kept)
    assert not _splits_grapheme(nfc, len(kept))


ALPHABET = st.sampled_from(
    [
        "a",
        " ",
        "한",
        "빛",
        "각",
        "\u1100",  # ᄀ leading
        "\u1161",  # ᅡ vowel
        "\u11a8",  # ᆨ final
        "\u119e",  # ᆞ archaic vowel
        "\u0301",  # combining acute
        "\u0323",  # combining dot below
        ZWJ,
        VS16,
        "\U0001f468",
        "\U0001f469",
        "\U0001f3ff",
        "\U0001f1f0",
        "\U0001f1f7",
        "\u2764",
        "e",
        "\n",
        "\r",
        "\u200b",
    ]
)


@settings(max_examples=400, deadline=None, database=None)
@given(text=st.text(ALPHABET, max_size=40), limit=st.integers(min_value=0, max_value=30))
def test_fit_text_properties_on_tricky_text(text: str, limit: int) -> None:
    _check(text, limit)


@settings(max_examples=200, deadline=None, database=None)
@given(text=st.text(max_size=60), limit=st.integers(min_value=0, max_value=40))
def test_fit_text_properties_on_any_text(text: str, limit: int) -> None:
    _check(text, limit)


@settings(database=None)
@given(text=st.text(ALPHABET, max_size=40))
def test_graphemes_reassemble(text: str) -> None:
    parts = graphemes(text)
    assert "".join(parts) == text
    assert all(parts)


def test_short_text_is_only_normalised() -> None:
    decomposed = "\u1112\u1161\u11ab\u1107\u1175\u11be"  # 한빛 as conjoining jamo
    assert fit_text(decomposed, 10) == ("한빛", False)


def test_hangul_is_counted_per_syllable_and_cut_with_ellipsis() -> None:
    text = "여권 발급 관련 안내 전화입니다"
    assert fit_text(text, 40) == (text, False)
    assert fit_text(text, 8) == ("여권 발급 관" + ELLIPSIS, True)
    assert fit_text(text, 7) == ("여권 발급" + ELLIPSIS, True)  # no space before the ellipsis


def test_decomposed_jamo_are_normalised_before_counting() -> None:
    decomposed = unicodedata.normalize("NFD", "한빛특례시청")
    assert len(decomposed) > 6
    assert fit_text(decomposed, 6) == ("한빛특례시청", False)
    assert fit_text(decomposed, 5) == ("한빛특례" + ELLIPSIS, True)


def test_archaic_jamo_syllable_is_never_split() -> None:
    text = "옛글 " + OLD_HAN + OLD_HAN
    assert unicodedata.normalize("NFC", text) == text  # NFC cannot compose these
    assert fit_text(text, 6) == ("옛글" + ELLIPSIS, True)
    assert fit_text(text, 7) == ("옛글 " + OLD_HAN + ELLIPSIS, True)
    assert fit_text(text, 8) == ("옛글 " + OLD_HAN + ELLIPSIS, True)


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("ab" + FAMILY, 8, "ab" + ELLIPSIS),  # the family (7) does not fit in 7 after "ab"
        ("ab" + FAMILY + "cd", 10, "ab" + FAMILY + ELLIPSIS),
        ("x" + THUMBS_DARK + "yz", 3, "x" + ELLIPSIS),
        ("x" + THUMBS_DARK + "yz", 4, "x" + THUMBS_DARK + ELLIPSIS),
        ("a" + FLAG_KR + FLAG_KR, 4, "a" + FLAG_KR + ELLIPSIS),
        ("a" + FLAG_KR + FLAG_KR, 3, "a" + ELLIPSIS),
        ("I " + HEART + " 한빛", 4, "I" + ELLIPSIS),
        ("I " + HEART + " 한빛", 5, "I " + HEART + ELLIPSIS),
        ("cafe\u0301\u0323s", 5, "caf" + ELLIPSIS),  # é with two marks: NFC composes é, the dot stays
        ("Zoe\u0308\u0301 ok", 5, "Zo\u00eb\u0301" + ELLIPSIS),
    ],
)
def test_cut_keeps_clusters_whole(text: str, limit: int, expected: str) -> None:
    fitted, cut = fit_text(text, limit)
    assert cut
    assert fitted == expected
    assert len(fitted) <= limit


def test_limits_below_two() -> None:
    assert fit_text("abc", 1) == (ELLIPSIS, True)
    assert fit_text("abc", 0) == ("", True)
    assert fit_text("", 0) == ("", False)


def test_fit_field_notes_the_cut() -> None:
    notes: list[str] = []
    text = "가" * 45
    assert fit_field("skt", "message", text, 40, notes) == "가" * 39 + ELLIPSIS
    assert fit_field("skt", "name", "한빛특례시", 16, notes) == "한빛특례시"
    assert notes == ["skt message cut 45->40 chars"]
