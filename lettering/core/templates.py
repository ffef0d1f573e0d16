"""The one Jinja environment: citizen pages (and, later, the console) render through it."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "static" / "templates"

environment = Environment(loader=FileSystemLoader(TEMPLATE_DIR), autoescape=select_autoescape(["html"]))


def render(name: str, **values: object) -> str:
    """The template `name` (under static/templates/) rendered with `values`, HTML-escaped."""
    return environment.get_template(name).render(**values)
