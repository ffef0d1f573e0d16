"""The one Jinja environment: citizen pages (and, later, the console) render through it."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "static" / "templates"

environment = Environment(loader=FileSystemLoader(TEMPLATE_DIR), autoescape=select_autoescape(["html"]))

# Particles chosen from the word they follow (never "이(가)"): (after a final consonant, after none).
PARTICLES = {
    "이": ("이", "가"),
    "을": ("을", "를"),
    "은": ("은", "는"),
    "과": ("과", "와"),
    "으로": ("으로", "로"),
}


# The final consonant (jongseong index, 0: none, 8: ㄹ) of how a digit or a Latin letter is read:
# 0 영, 1 일, 2 이, 3 삼, 4 사, 5 오, 6 육, 7 칠, 8 팔, 9 구 (a number ending in 0 ends in a consonant
# however it is read: 영, 십, 백, 천); L 엘, M 엠, N 엔, R 알, every other letter ends in a vowel.
_NO_FINAL, _RIEUL = 0, 8
_READ_FINAL = {
    **dict(zip("0123456789", (21, 8, 0, 16, 0, 0, 1, 8, 8, 0), strict=True)),
    **dict.fromkeys("ABCDEFGHIJKOPQSTUVWXYZ", _NO_FINAL),
    "L": _RIEUL,
    "M": 16,
    "N": 4,
    "R": _RIEUL,
}
# Closing marks a reader skips when choosing the particle: "「모두 받기」로", "(2114)는".
_SKIPPED = " \t\n)]}」』>\"'.,"


def final_consonant(word: str) -> int:
    """The final consonant (jongseong index, 0 for none, 8 for ㄹ) of how `word` is read aloud;
    0 for a word whose end is not Hangul, a digit or a Latin letter."""
    last = word.rstrip(_SKIPPED)[-1:]
    code = ord(last or " ") - 0xAC00
    if 0 <= code < 11172:
        return code % 28
    return _READ_FINAL.get(last.upper(), _NO_FINAL)


def particle_for(word: str, particle: str) -> str:
    """The form of `particle` that follows `word` as it is read: 한빛특례시 -> 가, 푸른군 -> 이,
    031-5180-2113 -> 은 (삼), 2114 -> 는 (사); with 으로 a final ㄹ takes 로 (서울로, 7로)."""
    after_consonant, after_vowel = PARTICLES[particle]
    final = final_consonant(word)
    if particle == "으로" and final == _RIEUL:
        return after_vowel
    return after_consonant if final else after_vowel


def with_particle(word: str, particle: str) -> str:
    """`word` and its particle: 한빛특례시 + 이 -> 한빛특례시가."""
    return word + particle_for(word, particle)


environment.filters["particle"] = with_particle
environment.filters["particle_for"] = particle_for


def render(name: str, **values: object) -> str:
    """The template `name` (under static/templates/) rendered with `values`, HTML-escaped."""
    return environment.get_template(name).render(**values)
