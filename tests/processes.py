"""Real `lettering` processes for tests: start one, wait for it, stop or kill it with its children."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (for a process to bind)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def child_env(values: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without its LETTERING_* variables, plus `values`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LETTERING_")}
    env.update(values)
    return env


def start_cli(
    args: list[str], *, env: dict[str, str], log: Path, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """`python -m lettering.cli <args>` in its own process group, output appended to `log`.

    In a temporary `cwd` no developer .env is read; None runs it in this process's folder.
    """
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "lettering.cli", *args],
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL to the process's group (it and its children), and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def stop_group(process: subprocess.Popen[bytes], *, grace_s: float = 15) -> None:
    """SIGTERM to the process's group, up to `grace_s` to exit, then SIGKILL to whatever is left."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace_s)
    kill_group(process)


async def wait_until(check: Callable[[], Awaitable[bool]], timeout_s: float, interval_s: float = 0.1) -> bool:
    """Poll `check` every `interval_s` until it is true (True) or `timeout_s` has passed (False)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(interval_s)
    return False


@dataclass
class Proc:
    popen: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL to its process group (its own session), and reap it."""
        kill_group(self.popen)

    def stop(self) -> None:
        stop_group(self.popen, grace_s=15)


def start(args: list[str], env: dict[str, str], log: Path, cwd: Path) -> Proc:
    return Proc(start_cli(args, env=env, log=log, cwd=cwd), log)


async def wait_ready(proc: Proc, url: str, timeout_s: float = 60) -> None:
    """Until `url` answers 200 (the service's /readyz: database and snapshots ready)."""
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            assert proc.popen.poll() is None, proc.text()
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(url)).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise AssertionError(f"{url} not ready after {timeout_s} s:\n{proc.text()[-3000:]}")
