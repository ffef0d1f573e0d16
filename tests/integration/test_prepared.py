"""lettering.core.prepared: a statement run on the driver's cursor gives what `conn.execute` gives.

Each check runs the same statements twice, on two identical tables: once through
`prepared.execute`, once through `conn.execute`, inside the group-commit writer's connection (the
stdlib sqlite3 driver on a SQLite file, asyncpg under `run_sync` on PostgreSQL) and on aiosqlite in
memory. Rows, types (aware datetimes, bytes), column defaults, RETURNING, executemany and row
counts must match; errors must be SQLAlchemy's (and never carry the values); a statement the plan
cannot hold must still run, through `conn.execute`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import (
    Boolean,
    Column,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    bindparam,
    delete,
    event,
    insert,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError, NoResultFound
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from lettering.core.db import GroupCommitter, UTCDateTime
from lettering.core.prepared import execute

pytestmark = pytest.mark.integration

_counter = itertools.count()


def _tokens() -> str:
    return f"tok-{next(_counter)}"


def _table(metadata: MetaData, name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("name", String(40), nullable=False, unique=True),
        Column("at", UTCDateTime, nullable=True),
        Column("blob", LargeBinary, nullable=True),
        Column("n", Integer, nullable=False, default=7),
        Column("token", String(40), nullable=False, default=_tokens),
        Column("flag", Boolean, nullable=False, default=False),
        Column("touched", Integer, nullable=True, onupdate=lambda: 1),
    )


AT = datetime(2026, 12, 4, 9, 0, 0, 123456, tzinfo=UTC)


def _script(table: Table, run: Callable[[Any, Any], Any]) -> list[Any]:
    """The statements the call path's repositories run, each built once with bindparams, as they
    are; what each gives back, as plain values."""
    c = table.c
    add = insert(table)
    add_returning = insert(table).returning(c.id, c.n, c.token, c.at)
    find = select(c.id, c.name, c.at, c.blob, c.n, c.flag).where(c.name == bindparam("b_name"))
    one_id = select(c.id).where(c.name == bindparam("b_name"))
    change = update(table).where(c.name == bindparam("b_name"))
    change_returning = update(table).where(c.name == bindparam("b_name")).returning(c.n, c.touched)
    remove = delete(table).where(c.n > bindparam("b_n"))
    out: list[Any] = []
    result = run(add_returning, {"name": "a", "at": AT, "blob": b"\x00\xffbin"})
    ((row_id, n, tok, at),) = result.all()
    out.append(("returning", n, tok.startswith("tok-"), at, at.tzinfo is not None))
    out.append(("insert", run(add, {"name": "b", "n": 3, "flag": True}).rowcount))
    out.append(("many", run(add, [{"name": f"m{i}", "n": 10 + i} for i in range(5)]).rowcount))
    row = run(find, {"b_name": "a"}).first()
    out.append(("find", row.name, row.at, row.blob, row.n, row.flag, dict(row._mapping)["blob"]))
    out.append(("find-none", run(find, {"b_name": "nobody"}).first()))
    out.append(("scalar", run(one_id, {"b_name": "a"}).scalar_one() == row_id))
    out.append(("scalar-none", run(one_id, {"b_name": "nobody"}).scalar_one_or_none()))
    out.append(("update", run(change, {"b_name": "b", "n": 4, "at": AT + timedelta(hours=1)}).rowcount))
    out.append(("update-returning", run(change_returning, {"b_name": "b", "n": 5}).all()))
    out.append(("update-none", run(change, {"b_name": "nobody", "n": 1}).rowcount))
    out.append(("after", [tuple(r) for r in run(find, {"b_name": "b"}).all()][0][1:]))
    out.append(("delete", run(remove, {"b_n": 11}).rowcount))
    return out


def _both(conn: Connection, suffix: str) -> tuple[list[Any], list[Any], int]:
    """The script through `prepared.execute` and through `conn.execute`; how many statements of
    the prepared run went through SQLAlchemy's execution (its cursor events)."""
    metadata = MetaData()
    mine, theirs = _table(metadata, f"prep_{suffix}"), _table(metadata, f"ref_{suffix}")
    metadata.create_all(conn)
    seen: list[str] = []

    def count(*args: Any) -> None:
        seen.append(args[2])

    event.listen(conn, "before_cursor_execute", count)
    try:
        got = _script(mine, lambda stmt, params: execute(conn, stmt, params))
    finally:
        event.remove(conn, "before_cursor_execute", count)
    want = _script(theirs, lambda stmt, params: conn.execute(stmt, params))
    return got, want, len(seen)


def _normalise(results: list[Any]) -> list[Any]:
    # rowcount from a SQLAlchemy result is the same attribute; rows compare as tuples.
    return [tuple(tuple(r) if isinstance(r, tuple) else r for r in entry) for entry in results]


async def test_the_call_paths_statements_give_what_conn_execute_gives(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    committer = GroupCommitter(sessions)
    try:
        got, want, through_sqlalchemy = await committer.run(lambda conn: _both(conn, "gc"))
    finally:
        await committer.close()
    assert _normalise(got) == _normalise(want)
    # Spot checks that the comparison compares something: types survived the round trip.
    assert got[0] == ("returning", 7, True, AT, True)
    assert got[3][2] == AT
    assert got[3][3] == b"\x00\xffbin"
    assert got[3][4] == 7
    assert got[8][1] == [(5, 1)]  # RETURNING after the onupdate default ran
    assert got[11] == ("delete", 3)  # m2..m4 (n 12..14) and nothing else: a has 7, b 5
    # Every statement of the prepared run went straight to the cursor.
    assert through_sqlalchemy == 0


async def test_aiosqlite_in_memory_gives_the_same() -> None:
    engine = create_async_engine("sqlite+aiosqlite:///:memory:")
    try:
        async with engine.begin() as conn:
            got, want, through_sqlalchemy = await conn.run_sync(lambda sync: _both(sync, "mem"))
    finally:
        await engine.dispose()
    assert _normalise(got) == _normalise(want)
    assert through_sqlalchemy == 0


def _errors(conn: Connection) -> dict[str, Any]:
    metadata = MetaData()
    table = _table(metadata, "prep_errors")
    metadata.create_all(conn)
    seen: dict[str, Any] = {}
    phone = "01012345678"
    execute(conn, insert(table), {"name": phone})
    nested = conn.begin_nested()
    try:
        execute(conn, insert(table), {"name": phone})
    except DBAPIError as exc:
        seen["duplicate"] = exc
    nested.rollback()
    try:
        execute(conn, select(table.c.id).where(table.c.name == bindparam("b_name")), {"other": 1})
    except DBAPIError as exc:
        seen["missing"] = exc
    try:
        execute(conn, select(table.c.id).where(table.c.name == "nobody"), {}).scalar_one()
    except NoResultFound as exc:
        seen["none"] = exc
    # Expanding IN: not plannable, runs through conn.execute with the same result.
    in_list = select(table.c.name).where(table.c.name.in_(bindparam("names", expanding=True)))
    seen["in"] = [tuple(r) for r in execute(conn, in_list, {"names": [phone, "x"]}).all()]
    return seen


async def test_errors_are_sqlalchemys_and_never_carry_the_values(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    committer = GroupCommitter(sessions)
    try:
        seen = await committer.run(_errors)
    finally:
        await committer.close()
    duplicate = seen["duplicate"]
    assert isinstance(duplicate, IntegrityError)
    assert "01012345678" not in str(duplicate)
    assert duplicate.params is None
    assert not duplicate.connection_invalidated
    assert "b_name" in str(seen["missing"])  # names the parameter that was not given
    assert isinstance(seen["none"], NoResultFound)
    assert seen["in"] == [("01012345678",)]


async def test_a_dropped_connection_is_invalidated_as_sqlalchemy_would(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("a server that drops a session: PostgreSQL only")
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as victim, engine.connect() as killer:
            pid = (await victim.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            await victim.commit()
            await killer.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            await killer.commit()
            query = select(literal_column("1"))

            def run(conn: Connection) -> Any:
                try:
                    execute(conn, query, {})
                except DBAPIError as exc:
                    return exc
                return None

            error = await victim.run_sync(run)
            assert isinstance(error, DBAPIError)
            assert error.connection_invalidated
            assert victim.invalidated
    finally:
        await engine.dispose()
