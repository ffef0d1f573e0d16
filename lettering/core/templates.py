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


def particle_for(word: str, particle: str) -> str:
    """The form of `particle` that follows `word`: 한빛특례시 -> 가, 푸른군 -> 이; with 으로 a final ㄹ
    takes 로 (서울로). A word not ending in Hangul takes the form after a vowel."""
    after_consonant, after_vowel = PARTICLES[particle]
    code = ord(word[-1:] or " ") - 0xAC00
    if not 0 <= code < 11172:
        return after_vowel
    final = code % 28
    if particle == "으로" and final == 8:  # ㄹ
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
