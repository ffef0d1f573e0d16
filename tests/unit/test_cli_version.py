"""`lettering --version` prints the installed package's version (no database, no settings)."""

from __future__ import annotations

from importlib.metadata import version

from typer.testing import CliRunner

from lettering.cli import app


def test_version_prints_the_package_version_and_exits_0() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output == f"lettering {version('lettering')}\n"
