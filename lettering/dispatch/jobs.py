"""Dispatch's sweep: settle calls whose push never got an outcome (their process died)."""

from __future__ import annotations

from lettering.core.scheduler import Job
from lettering.dispatch.service import Dispatcher


def scheduled(dispatcher: Dispatcher) -> list[Job]:
    """This package's sweeps and how often they run."""
    return [Job("dispatch.settle_interrupted", dispatcher.settle_interrupted, 60)]
