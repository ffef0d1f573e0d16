"""Fitting display text to a carrier's character limits without breaking what the citizen reads.

Carriers count Unicode characters (code points after NFC; 한글 = 1). A cut must never split a
user-perceived character: a Hangul syllable written as conjoining jamo, a letter and its combining
marks, an emoji ZWJ sequence, a flag, or a base and its variation selector / skin-tone modifier.
This is a compact implementation of the extended grapheme cluster rules of UAX #29 built on
`unicodedata` only; where it simplifies, it keeps more together, never less.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator

ELLIPSIS = "\u2026"

_CR = 0x0D
_LF = 0x0A
_ZWJ = 0x200D
_ZWNJ = 0x200C

# Hangul conjoining jamo and syllables (Unicode 15, Hangul_Syllable_Type).
_SYLLABLE_BASE = 0xAC00
_SYLLABLE_LAST = 0xD7A3
_T_COUNT = 28


def _hangul_type(cp: int) -> str:
    if 0x1100 <= cp <= 0x115F or 0xA960 <= cp <= 0xA97C:
        return "L"
    if 0x1160 <= cp <= 0x11A7 or 0xD7B0 <= cp <= 0xD7C6:
        return "V"
    if 0x11A8 <= cp <= 0x11FF or 0xD7CB <= cp <= 0xD7FB:
        return "T"
    if _SYLLABLE_BASE <= cp <= _SYLLABLE_LAST:
        return "LV" if (cp - _SYLLABLE_BASE) % _T_COUNT == 0 else "LVT"
    return ""


def _is_extend(cp: int) -> bool:
    """Extend / SpacingMark: characters that never start a grapheme of their own."""
    if cp in (_ZWJ, _ZWNJ):
        return True
    if 0xFE00 <= cp <= 0xFE0F or 0xE0100 <= cp <= 0xE01EF:  # variation selectors
        return True
    if 0x1F3FB <= cp <= 0x1F3FF:  # emoji skin-tone modifiers
        return True
    if 0xE0020 <= cp <= 0xE007F:  # emoji tag sequences (subdivision flags)
        return True
    if cp in (0xFF9E, 0xFF9F):  # halfwidth katakana sound marks
        return True
    return unicodedata.category(chr(cp)) in ("Mn", "Me", "Mc")


def _is_control(cp: int) -> bool:
    if cp in (_ZWJ, _ZWNJ) or 0xE0020 <= cp <= 0xE007F:
        return False
    return unicodedata.category(chr(cp)) in ("Cc", "Zl", "Zp", "Cf")


def _is_regional_indicator(cp: int) -> bool:
    return 0x1F1E6 <= cp <= 0x1F1FF


def _joins(prev: int, nxt: int, ri_run: int) -> bool:
    """True when there is no grapheme boundary between `prev` and `nxt`.

    `ri_run` is how many regional indicators end the text up to and including `prev`.
    """
    if prev == _CR and nxt == _LF:  # GB3
        return True
    if _is_control(prev) or _is_control(nxt):  # GB4, GB5
        return False
    prev_h, next_h = _hangul_type(prev), _hangul_type(nxt)
    if prev_h == "L" and next_h in ("L", "V", "LV", "LVT"):  # GB6
        return True
    if prev_h in ("LV", "V") and next_h in ("V", "T"):  # GB7
        return True
    if prev_h in ("LVT", "T") and next_h == "T":  # GB8
        return True
    if _is_extend(nxt):  # GB9, GB9a
        return True
    if prev == _ZWJ:  # GB11, widened: nothing after a joiner starts a new grapheme
        return True
    # GB12, GB13: regional indicators pair up into flags.
    return _is_regional_indicator(prev) and _is_regional_indicator(nxt) and ri_run % 2 == 1


def grapheme_ends(text: str) -> Iterator[int]:
    """Yield the end index of each extended grapheme cluster of `text`, in order."""
    ri_run = 0
    for i in range(1, len(text) + 1):
        prev = ord(text[i - 1])
        ri_run = ri_run + 1 if _is_regional_indicator(prev) else 0
        if i == len(text) or not _joins(prev, ord(text[i]), ri_run):
            yield i


def graphemes(text: str) -> list[str]:
    """Split `text` into extended grapheme clusters."""
    out: list[str] = []
    start = 0
    for end in grapheme_ends(text):
        out.append(text[start:end])
        start = end
    return out


def fit_text(text: str, limit: int) -> tuple[str, bool]:
    """NFC-normalise `text` and cut it on a grapheme boundary, ending with "…", to `limit` characters."""
    nfc = unicodedata.normalize("NFC", text)
    if len(nfc) <= limit:
        return nfc, False
    if limit <= 0:
        return "", True
    budget = limit - len(ELLIPSIS)
    keep = 0
    for end in grapheme_ends(nfc):
        if end > budget:
            break
        keep = end
    return nfc[:keep].rstrip() + ELLIPSIS, True


def fit_field(carrier: str, field: str, text: str, limit: int, notes: list[str]) -> str:
    """Fit one display field and append a note like "skt message cut 45->40 chars" when it was cut."""
    fitted, was_cut = fit_text(text, limit)
    if was_cut:
        original = len(unicodedata.normalize("NFC", text))
        notes.append(f"{carrier} {field} cut {original}->{len(fitted)} chars")
    return fitted


VERIFY_LABEL = "확인코드"


def guidance_with_code(
    carrier: str, field: str, guidance: str, code: str, limit: int, notes: list[str]
) -> str:
    """The guidance and the call's code for the check at /verify: "… 확인코드 A1B2C3".

    The code is kept whole and the guidance is cut first (a code cut short checks nothing); a field
    too short for both carries the guidance alone, noted like any cut.
    """
    if not code:
        return fit_field(carrier, field, guidance, limit, notes)
    suffix = f" {VERIFY_LABEL} {code}"
    room = limit - len(suffix)
    if room < 1:
        notes.append(f"{carrier} {field}: no room for the verify code")
        return fit_field(carrier, field, guidance, limit, notes)
    return fit_field(carrier, field, guidance, room, notes) + suffix
