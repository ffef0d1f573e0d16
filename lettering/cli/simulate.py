"""`lettering simulate ...`: the carriers' and the AlimTalk dealer's simulators as processes."""

from __future__ import annotations

from typing import Annotated

import typer

from carriers.simulator.app import run_simulator
from kakao_fallback.simulator.app import run_alimtalk_simulator
from lettering.cli.runtime import settings_or_exit

simulate_app = typer.Typer(help="Simulators of the outside world.", no_args_is_help=True)


@simulate_app.command("carriers")
def simulate_carriers(
    port: Annotated[int, typer.Option()] = 8101,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
) -> None:
    """The SKT / KT / LG U+ simulator as its own process (spec/carriers.md profile)."""
    run_simulator(host, port, settings_or_exit())


@simulate_app.command("alimtalk")
def simulate_alimtalk(
    port: Annotated[int, typer.Option()] = 8102,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
) -> None:
    """The AlimTalk dealer simulator (NHN Cloud v2.3 shapes) as its own process."""
    run_alimtalk_simulator(host, port, settings_or_exit())
