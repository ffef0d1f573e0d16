"""The `lettering` command on a real database: import, PBX registration, refusals with exit 1."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from lettering.cli import app
from lettering.core.clock import SEOUL
from lettering.core.db import make_engine, make_sessionmaker
from lettering.core.phone import make_vault
from lettering.core.settings import get_settings
from lettering.directory.models import DirectoryExtension
from lettering.webhook.auth import make_registry_builder

pytestmark = pytest.mark.integration

REPO_CSV = Path(__file__).resolve().parents[2] / "data" / "directory.csv"


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("LETTERING_ENV", "dev")
    monkeypatch.setenv("LETTERING_DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def extension_count(database_url: str) -> int:
    async def count() -> int:
        engine = make_engine(database_url)
        try:
            async with make_sessionmaker(engine)() as session:
                rows = await session.execute(select(func.count()).select_from(DirectoryExtension))
                return int(rows.scalar_one())
        finally:
            await engine.dispose()

    return asyncio.run(count())


def test_bad_row_changes_nothing_and_exits_1(cli_env: CliRunner, tmp_path: Path, database_url: str) -> None:
    lines = REPO_CSV.read_text(encoding="utf-8").splitlines()
    lines[5] = lines[5].replace(",2004,", ",20x4,")  # file line 6
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = cli_env.invoke(app, ["directory", "import", str(bad)])
    assert result.exit_code == 1
    assert "line 6" in result.output
    assert "nothing was imported" in result.output
    assert extension_count(database_url) == 0


def test_import_then_reimport_is_unchanged(cli_env: CliRunner, database_url: str) -> None:
    first = cli_env.invoke(app, ["directory", "import", str(REPO_CSV)])
    assert first.exit_code == 0, first.output
    assert "extensions:  4286 added" in first.output
    second = cli_env.invoke(app, ["directory", "import", str(REPO_CSV)])
    assert "extensions:  0 added, 0 updated, 4286 unchanged" in second.output
    assert "nothing changed" in second.output
    assert extension_count(database_url) == 4286


def test_pbx_add_prints_the_generated_secret_once(cli_env: CliRunner) -> None:
    assert cli_env.invoke(app, ["directory", "import", str(REPO_CSV)]).exit_code == 0
    added = cli_env.invoke(app, ["pbx", "add", "--id", "hanbit-main", "--agency", "HANBIT"])
    assert added.exit_code == 0, added.output
    assert "secret" in added.output
    assert "whsec_" in added.output
    listed = cli_env.invoke(app, ["pbx", "list"])
    assert "hanbit-main" in listed.output
    assert "whsec_" not in listed.output
    again = cli_env.invoke(app, ["pbx", "add", "--id", "hanbit-main", "--agency", "HANBIT"])
    assert again.exit_code == 1
    assert "already registered" in again.output
    unknown = cli_env.invoke(app, ["pbx", "add", "--id", "x", "--agency", "NOPE"])
    assert unknown.exit_code == 1
    assert "NOPE" in unknown.output
    token = cli_env.invoke(app, ["pbx", "add", "--id", "legacy", "--agency", "HANBIT", "--auth", "token"])
    assert token.exit_code == 1
    assert "--allow-net" in token.output


def test_agency_policy_is_shown_and_changed(cli_env: CliRunner) -> None:
    assert cli_env.invoke(app, ["directory", "import", str(REPO_CSV)]).exit_code == 0
    shown = cli_env.invoke(app, ["directory", "agency", "HANBIT"])
    assert "fallback_carrier_failure: True" in shown.output
    changed = cli_env.invoke(
        app, ["directory", "agency", "HANBIT", "--no-fallback-carrier-failure", "--disabled"]
    )
    assert changed.exit_code == 0, changed.output
    assert "fallback_carrier_failure: False" in changed.output
    assert "enabled: False" in changed.output
    assert cli_env.invoke(app, ["directory", "agency", "NOPE"]).exit_code == 1


def test_keys_generate_next_then_rotate_and_status(
    cli_env: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli_env.invoke(app, ["directory", "import", str(REPO_CSV)]).exit_code == 0
    assert cli_env.invoke(app, ["pbx", "add", "--id", "hanbit-main", "--agency", "HANBIT"]).exit_code == 0
    generated = cli_env.invoke(app, ["keys", "generate", "--next"])
    assert generated.exit_code == 0, generated.output
    lines = [line for line in generated.output.splitlines() if line.startswith("LETTERING_")]
    assert [line.split("=", 1)[0] for line in lines] == [
        "LETTERING_KEY_VERSION",
        "LETTERING_PHONE_HASH_KEY",
        "LETTERING_PHONE_ENC_KEY",
        "LETTERING_PHONE_KEYS_OLD",
    ]
    for line in lines:
        name, value = line.split("=", 1)
        monkeypatch.setenv(name, value.strip("'"))
    get_settings.cache_clear()
    assert get_settings().key_version == 2
    assert list(get_settings().phone_keys_old) == [1]

    before = cli_env.invoke(app, ["keys", "status"])
    assert before.exit_code == 0, before.output
    assert "webhook_pbx: v1: 1" in before.output
    assert "still in use: key versions [1]" in before.output

    rotated = cli_env.invoke(app, ["keys", "rotate", "--batch", "10"])
    assert rotated.exit_code == 0, rotated.output
    assert "re-sealed secrets webhook_pbx: 1" in rotated.output
    assert "webhook_pbx: v2: 1" in rotated.output
    assert "nothing depends on key versions [1] any more" in rotated.output

    # Without the old key now, the PBX's secret still opens (it was re-sealed under version 2).
    monkeypatch.delenv("LETTERING_PHONE_KEYS_OLD")
    get_settings.cache_clear()
    listed = cli_env.invoke(app, ["keys", "status"])
    assert "nothing depends on an old key version" in listed.output
    again = cli_env.invoke(app, ["keys", "rotate"])
    assert again.exit_code == 0, again.output  # nothing left to do, and it says so
    assert "re-sealed secrets webhook_pbx: 0" in again.output


def test_rotate_without_the_old_key_exits_1_and_says_which(
    cli_env: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli_env.invoke(app, ["directory", "import", str(REPO_CSV)]).exit_code == 0
    assert cli_env.invoke(app, ["pbx", "add", "--id", "hanbit-main", "--agency", "HANBIT"]).exit_code == 0
    generated = cli_env.invoke(app, ["keys", "generate", "--next"]).output
    for line in generated.splitlines():
        if line.startswith("LETTERING_") and not line.startswith("LETTERING_PHONE_KEYS_OLD"):
            name, value = line.split("=", 1)
            monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    refused = cli_env.invoke(app, ["keys", "rotate"])
    assert refused.exit_code == 1
    assert "key version 1, which is not configured" in refused.output


@pytest.mark.parametrize(
    ("secret", "says"),
    [
        ("abc", "does not start with whsec_"),
        ("whsec_abc", "not valid base64"),
        ("whsec_" + "A" * 8, "holds 6 bytes"),
    ],
)
def test_pbx_add_refuses_a_malformed_secret_naming_the_format(
    cli_env: CliRunner, secret: str, says: str
) -> None:
    assert cli_env.invoke(app, ["directory", "import", str(REPO_CSV)]).exit_code == 0
    refused = cli_env.invoke(app, ["pbx", "add", "--id", "pbx-1", "--agency", "HANBIT", "--secret", secret])
    assert refused.exit_code == 1
    assert isinstance(refused.exception, SystemExit), refused.exception  # a message, not a traceback
    assert says in refused.output
    assert "whsec_ followed by the base64 of 24-64 random bytes" in refused.output
    assert "pbx-1" not in cli_env.invoke(app, ["pbx", "list"]).output


def test_pbx_list_has_a_header_agency_codes_and_seoul_times(cli_env: CliRunner) -> None:
    assert cli_env.invoke(app, ["directory", "import", str(REPO_CSV)]).exit_code == 0
    assert cli_env.invoke(app, ["pbx", "add", "--id", "hanbit-main", "--agency", "HANBIT"]).exit_code == 0
    listed = cli_env.invoke(app, ["pbx", "list"])
    assert listed.exit_code == 0, listed.output
    header, row = listed.output.splitlines()
    assert header.split() == ["ID", "AGENCY", "AUTH", "HOLD", "STATE", "REGISTERED", "NETWORKS", "GRACE"]
    assert row.split()[:4] == ["hanbit-main", "HANBIT", "signed", "500"]
    assert "agency=" not in listed.output
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d KST", row), row


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["rotate", "nope"], "no PBX with id 'nope'"),
        (["rotate", "hanbit-main", "--grace-hours", "-1"], "--grace-hours must be between 0 and 168"),
        (["rotate", "hanbit-main", "--grace-hours", "200"], "--grace-hours must be between 0 and 168"),
        (["rotate", "hanbit-main", "--token", "x" * 30], "give --secret, not --token"),
        (["rotate", "hanbit-main", "--secret", "whsec_abc"], "not valid base64"),
    ],
)
def test_pbx_rotate_refuses_bad_input_naming_it(cli_env: CliRunner, args: list[str], says: str) -> None:
    assert cli_env.invoke(app, ["directory", "import", str(REPO_CSV)]).exit_code == 0
    assert cli_env.invoke(app, ["pbx", "add", "--id", "hanbit-main", "--agency", "HANBIT"]).exit_code == 0
    refused = cli_env.invoke(app, ["pbx", *args])
    assert refused.exit_code == 1
    assert says in refused.output


def test_keys_rotate_reseals_the_secret_in_grace_too(
    cli_env: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli_env.invoke(app, ["directory", "import", str(REPO_CSV)]).exit_code == 0
    assert cli_env.invoke(app, ["pbx", "add", "--id", "hanbit-main", "--agency", "HANBIT"]).exit_code == 0
    rotated = cli_env.invoke(app, ["pbx", "rotate", "hanbit-main", "--grace-hours", "24"])
    assert rotated.exit_code == 0, rotated.output
    listed_row = cli_env.invoke(app, ["pbx", "list"]).output.splitlines()[1]
    assert listed_row.count("KST") == 2, listed_row  # registered, and the end of the grace
    generated = cli_env.invoke(app, ["keys", "generate", "--next"])
    for line in generated.output.splitlines():
        if line.startswith("LETTERING_"):
            name, value = line.split("=", 1)
            monkeypatch.setenv(name, value.strip("'"))
    get_settings.cache_clear()
    before = cli_env.invoke(app, ["keys", "status"])
    assert "webhook_pbx: v1: 2" in before.output  # the current secret and the one in grace

    keys = cli_env.invoke(app, ["keys", "rotate"])
    assert keys.exit_code == 0, keys.output
    assert "re-sealed secrets webhook_pbx: 2" in keys.output

    # Without the old key, both secrets still open: the registry has the current and the previous.
    monkeypatch.delenv("LETTERING_PHONE_KEYS_OLD")
    get_settings.cache_clear()
    assert "nothing depends on an old key version" in cli_env.invoke(app, ["keys", "status"]).output

    async def opened() -> tuple[bool, bool]:
        settings = get_settings()
        engine = make_engine(settings.database_url)
        try:
            async with make_sessionmaker(engine)() as session:
                registry = await make_registry_builder(make_vault(settings))(session)
        finally:
            await engine.dispose()
        view = registry.by_id["hanbit-main"]
        return view.key is not None, view.previous_key is not None

    assert asyncio.run(opened()) == (True, True)


def test_dashboard_rollup_rebuilds_the_days_and_refuses_a_bad_day(cli_env: CliRunner) -> None:
    bad = cli_env.invoke(app, ["dashboard", "rollup", "--since", "2026-13-01"])
    assert bad.exit_code == 1
    assert "--since '2026-13-01': not a day" in bad.output
    since = (datetime.now(SEOUL).date() - timedelta(days=2)).isoformat()
    done = cli_env.invoke(app, ["dashboard", "rollup", "--since", since])
    assert done.exit_code == 0, done.output
    assert f"rebuilt 3 days from {since}" in done.output
