"""Benchmark of the dashboard on a year of a city's calls, on PostgreSQL and SQLite.

Run: .venv/bin/python bench/dashboard.py [--rows 3000000] [--requests 30] [--backends postgresql,sqlite]
     [--pg-url postgresql+asyncpg://…]   (default: $LETTERING_BENCH_PG_URL, else a throwaway cluster
                                          started with scripts/pg-test and stopped at the end)

For each database, in one run:
- loads `--rows` call records (tests/factories.synthetic_calls: a year of a 4,000-line city, one
  agency with 160 departments of uneven size, weekdays and office hours, the three carriers and
  iPhones, the call path's outcomes, the holdout arms, campaigns) by bulk insert (COPY on
  PostgreSQL, executemany on SQLite), never through the API;
- builds the rollup (lettering/calls/rollup.py: the job's first run, one transaction per day);
- times each dashboard request `--requests` times through the app (httpx over ASGI, logged in as the
  agency's admin): the console page and its CSV over the whole year, the same filtered to one
  department, the holdout API over the year, the AlimTalk API, and the call search page; p50/p95.

"today" is the day after the last generated day: its part is read from the raw records (empty
here, as just after midnight), every earlier day from the rollup. Figures vary with the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LETTERING_ENV", "test")

import asyncpg  # noqa: E402
import httpx  # noqa: E402
from sqlalchemy import create_engine, delete, func, insert, select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from lettering.app import create_app  # noqa: E402
from lettering.calls import rollup  # noqa: E402
from lettering.calls.models import CallDay, CallHour, CallRecord, CallRollupMark  # noqa: E402
from lettering.core import migrate  # noqa: E402
from lettering.core.clock import SEOUL  # noqa: E402
from lettering.core.db import make_engine, make_sessionmaker, session_scope, table_of  # noqa: E402
from lettering.directory import service as directory_service  # noqa: E402
from lettering.users import service as user_service  # noqa: E402
from tests.factories import DIRECTORY, seed_directory, synthetic_calls  # noqa: E402
from tests.integration.callpath.conftest import service_settings  # noqa: E402

DAYS = 365
PASSWORD = "correct horse battery"
CHUNK = 50_000


def column_names() -> list[str]:
    sample = next(
        synthetic_calls(random.Random(0), count=1, first=datetime.now(SEOUL), days=1, agencies={1: [1]})
    )
    return list(sample)


async def load_postgresql(url: str, rows: Any) -> None:
    u = make_url(url)
    conn = await asyncpg.connect(
        host=u.host, port=u.port, user=u.username, password=u.password, database=u.database
    )
    try:
        names = column_names()
        chunk: list[tuple[Any, ...]] = []
        for row in rows:
            chunk.append(tuple(row[n] for n in names))
            if len(chunk) == CHUNK:
                await conn.copy_records_to_table("call_record", records=chunk, columns=names)
                chunk = []
        if chunk:
            await conn.copy_records_to_table("call_record", records=chunk, columns=names)
        await conn.execute("ANALYZE call_record")
    finally:
        await conn.close()


def load_sqlite(url: str, rows: Any) -> None:
    engine = create_engine(url.replace("+aiosqlite", ""))
    table = table_of(CallRecord)
    chunk: list[dict[str, Any]] = []
    with engine.begin() as conn:
        for row in rows:
            chunk.append(row)
            if len(chunk) == CHUNK:
                conn.execute(insert(table), chunk)
                chunk = []
        if chunk:
            conn.execute(insert(table), chunk)
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def bench(backend: str, url: str, args: argparse.Namespace) -> list[str]:
    out: list[str] = []
    reuse = bool(args.reuse) and backend == "postgresql"
    if not reuse:
        migrate.upgrade_head(url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    department_code = DIRECTORY[0].departments[0].code
    if reuse:
        async with session_scope(sessions) as session:
            agency_id = await directory_service.agency_id_for_code(session, "HANBIT")
        assert agency_id is not None
        agencies = {"HANBIT": agency_id}
    else:
        agencies = await seed_directory(sessions)
        async with session_scope(sessions) as session:
            await user_service.create_user(
                session, "admin@hanbit.example", "관리자", PASSWORD, "admin", "HANBIT"
            )
    async with session_scope(sessions) as session:
        department_id = await directory_service.department_of_agency(
            session, agencies["HANBIT"], department_code
        )
        assert department_id is not None
    today = datetime.now(SEOUL).date()
    first_day = today - timedelta(days=DAYS)
    first = datetime.combine(first_day, datetime.min.time(), SEOUL)
    if reuse:
        out.append(f"{backend}: reusing the loaded database (its records made by this script)")
    else:
        # 160 departments: the directory's own (the filter's) and made-up ids, unknown ones too.
        departments = [department_id, *range(100_000, 100_158), None]
        rows = synthetic_calls(
            random.Random(args.seed),
            count=args.rows,
            first=first,
            days=DAYS,
            agencies={agencies["HANBIT"]: departments},
            campaigns=list(range(1, 41)),
        )
        started = time.perf_counter()
        if backend == "postgresql":
            await load_postgresql(url, rows)
        else:
            await asyncio.to_thread(load_sqlite, url, rows)
        out.append(f"{backend}: loaded {args.rows:,} call records in {time.perf_counter() - started:.1f} s")
    async with session_scope(sessions) as session:
        await session.execute(delete(table_of(CallRollupMark)))  # a first run: the whole backfill
    started = time.perf_counter()
    report = await rollup.backfill(sessions, datetime.now(SEOUL))
    built = time.perf_counter() - started
    out.append(
        f"{backend}: rollup built in {built:.1f} s"
        f" ({len(report.days)} days, {built / len(report.days) * 1000:.0f} ms a day)"
    )
    async with session_scope(sessions) as session:
        n_day = (await session.execute(select(func.count()).select_from(CallDay))).scalar_one()
        n_hour = (await session.execute(select(func.count()).select_from(CallHour))).scalar_one()
    out.append(f"{backend}: rollup rows call_day {n_day:,}, call_hour {n_hour:,}")
    await engine.dispose()

    year = f"since={first_day.isoformat()}&until={(today - timedelta(days=1)).isoformat()}"
    iso_since = first.isoformat()
    iso_until = datetime.combine(today, datetime.min.time(), SEOUL).isoformat()
    requests = {
        "console /admin/dashboard, a year": f"/admin/dashboard?{year}",
        "console dashboard, a year, one department": f"/admin/dashboard?{year}&department={department_code}",
        "console daily.csv, a year": f"/admin/dashboard/daily.csv?{year}",
        "API /v1/agencies/HANBIT/holdout, a year": "/v1/agencies/HANBIT/holdout?"
        + str(httpx.QueryParams({"since": iso_since, "until": iso_until})),
        "API /v1/agencies/HANBIT/alimtalk": "/v1/agencies/HANBIT/alimtalk",
        "console /admin/calls (newest page)": "/admin/calls",
    }
    app = create_app(service_settings(url, "http://127.0.0.1:9"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t", timeout=120) as client:
            login = await client.post(
                "/admin/login", data={"email": "admin@hanbit.example", "password": PASSWORD}
            )
            assert login.status_code == 303, login.text
            for label, path in requests.items():
                first_response = await client.get(path)
                assert first_response.status_code == 200, (
                    path,
                    first_response.status_code,
                    first_response.text[:300],
                )
                times = []
                for _ in range(args.requests):
                    t0 = time.perf_counter()
                    response = await client.get(path)
                    times.append((time.perf_counter() - t0) * 1000)
                    assert response.status_code == 200
                out.append(
                    f"{backend}: {label:45s} p50 {statistics.median(times):7.1f} ms"
                    f"  p95 {percentile(times, 0.95):7.1f} ms  (n={len(times)})"
                )
    return out


def start_pg(folder: Path) -> str:
    done = subprocess.run(
        [str(ROOT / "scripts" / "pg-test"), "start", str(folder)], check=True, capture_output=True, text=True
    )
    return done.stdout.split()[0]


async def new_pg_database(admin_url: str) -> str:
    u = make_url(admin_url)
    name = f"bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(
        host=u.host, port=u.port, user=u.username, password=u.password, database=u.database
    )
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return u.set(database=name).render_as_string(hide_password=False)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3_000_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--backends", default="postgresql,sqlite")
    parser.add_argument("--pg-url", default=os.environ.get("LETTERING_BENCH_PG_URL", ""))
    parser.add_argument("--reuse", default="", help="A PostgreSQL database this script loaded before.")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-dashboard-"))
    started_pg: Path | None = None
    lines: list[str] = [f"rows {args.rows:,}, requests {args.requests} each, {date.today().isoformat()}"]
    try:
        for backend in args.backends.split(","):
            if backend == "postgresql":
                admin = args.pg_url
                if args.reuse:
                    url = args.reuse
                elif not admin:
                    started_pg = folder / "pg"
                    admin = start_pg(started_pg)
                if not args.reuse:
                    url = await new_pg_database(admin)
            else:
                url = f"sqlite+aiosqlite:///{folder / 'dashboard.db'}"
            result = await bench(backend, url, args)
            for line in result:
                print(line, flush=True)
            lines += result
    finally:
        if started_pg is not None:
            stop = [str(ROOT / "scripts" / "pg-test"), "stop", str(started_pg)]
            await asyncio.to_thread(subprocess.run, stop, check=False)


if __name__ == "__main__":
    asyncio.run(main())
