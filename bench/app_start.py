"""What one start of the service costs before it answers: Container.build + the lifespan, and the
first request after it (measured against the second, the floor of a request in the same app).

    .venv/bin/python bench/app_start.py [--runs N]

The service is built as the integration tests build it (test settings, in-process simulators, a
SQLite copy of the migrated schema with the test directory), in this process, over ASGI (no
socket). The first request is where FastAPI (0.165) builds its included routes lazily
(`fastapi.routing._IncludedRouter.effective_candidates`). Since session 10 the lifespan builds them
before the worker is up (`lettering.app.warm_routes`), so "lifespan start" carries that cost and the
first request costs what the second does. (The suite also shares the built routes between its apps:
tests/conftest.py; this script does not load it.)
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lettering.app import create_app  # noqa: E402
from lettering.core import migrate  # noqa: E402
from lettering.core.db import make_engine, make_sessionmaker  # noqa: E402
from tests.factories import seed_directory  # noqa: E402
from tests.integration.callpath.conftest import service_settings  # noqa: E402


async def one(template: Path, folder: Path, n: int) -> tuple[float, float, float, float]:
    db = folder / f"run{n}.db"
    shutil.copyfile(template, db)
    url = f"sqlite+aiosqlite:///{db}"
    engine = make_engine(url)
    await seed_directory(make_sessionmaker(engine))
    started = time.perf_counter()
    app = create_app(service_settings(url, "http://127.0.0.1:9"))
    made = time.perf_counter()
    async with app.router.lifespan_context(app):
        up = time.perf_counter()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            t0 = time.perf_counter()
            await client.get("/livez")
            t1 = time.perf_counter()
            await client.get("/livez")
            t2 = time.perf_counter()
    await engine.dispose()
    return made - started, up - made, t1 - t0, t2 - t1


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="app-start-"))
    template = folder / "template.db"
    migrate.upgrade_head(f"sqlite+aiosqlite:///{template}")
    await one(template, folder, 0)  # imports, first-use caches
    runs = [await one(template, folder, n) for n in range(1, args.runs + 1)]
    shutil.rmtree(folder, ignore_errors=True)
    for label, i in (("create_app", 0), ("lifespan start", 1), ("first request", 2), ("second request", 3)):
        values = [r[i] * 1000 for r in runs]
        print(f"{label:15s} median {statistics.median(values):7.1f} ms  max {max(values):7.1f} ms")


if __name__ == "__main__":
    import os

    os.environ.setdefault("LETTERING_ENV", "test")
    asyncio.run(main())
