"""Safe by default: without LETTERING_ENV the service is production, and says what it lacks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from lettering.cli import app
from lettering.core.settings import SECRET_PURPOSES, Settings, env_line_name
from tests.processes import child_env

# Every variable the refusal must name when nothing is set.
SECRET_VARIABLES = sorted({env_line_name(name) for name in SECRET_PURPOSES})


@pytest.fixture
def bare_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No LETTERING_* variable at all, as on a host where the operator has set nothing yet."""
    for name in list(os.environ):
        if name.startswith("LETTERING_"):
            monkeypatch.delenv(name)


def generated_environment() -> dict[str, str]:
    """`lettering keys generate`'s lines, read as a shell or a .env file reads them."""
    result = CliRunner().invoke(app, ["keys", "generate"])
    assert result.exit_code == 0, result.output
    values: dict[str, str] = {}
    for line in result.output.splitlines():
        if line.startswith("LETTERING_"):
            name, value = line.split("=", 1)
            values[name] = value.removeprefix("'").removesuffix("'")
    return values


@pytest.mark.usefixtures("bare_environment")
def test_without_lettering_env_the_settings_are_production_and_refuse_the_dev_keys() -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None)  # type: ignore[call-arg]
    message = str(refused.value)
    assert "LETTERING_ENV=prod" in message
    for variable in SECRET_VARIABLES:
        assert variable in message
    assert "`lettering keys generate`" in message


def test_the_refusal_says_what_each_secret_is_for_and_never_echoes_a_value(
    bare_environment: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LETTERING_PHONE_HASH_KEY", "not-a-key-but-a-secret-value")
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None)  # type: ignore[call-arg]
    message = str(refused.value)
    assert "phone_hash_key is not base64" in message
    assert "not-a-key-but-a-secret-value" not in message
    assert "signs the links in citizens' messages" in message  # LETTERING_LINK_SECRET's line


def test_keys_generate_prints_every_secret_and_its_output_passes_a_production_start(
    bare_environment: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = generated_environment(), generated_environment()
    assert set(SECRET_VARIABLES) <= set(first)
    assert "LETTERING_LINK_SECRET" in first
    assert all(first[name] != second[name] for name in first)  # freshly random each time
    for name, value in first.items():
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.env == "prod"
    assert settings.simulators_in_process is False
    assert settings.link_secret.get_secret_value() == first["LETTERING_LINK_SECRET"]


def test_the_simulators_can_still_be_asked_for_outside_prod_only(bare_environment: None) -> None:
    assert Settings(_env_file=None, env="dev").simulators_in_process is True  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="simulators_in_process must be false in prod"):
        Settings(_env_file=None, simulators_in_process=True, **_secrets())  # type: ignore[call-arg]


def _secrets() -> dict[str, str]:
    env = generated_environment()
    return {
        "phone_hash_key": env["LETTERING_PHONE_HASH_KEY"],
        "phone_enc_key": env["LETTERING_PHONE_ENC_KEY"],
        "link_secret": env["LETTERING_LINK_SECRET"],
    }


def test_a_cli_start_without_secrets_exits_1_with_the_list_and_no_traceback(tmp_path: Path) -> None:
    lettering = Path(sys.executable).with_name("lettering")
    run = subprocess.run(  # noqa: S603 (a fixed command line)
        [str(lettering), "serve", "--port", "1"],
        env=child_env({}),  # no LETTERING_* at all; in tmp_path no .env is read
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    assert "validation error" not in run.stderr
    for variable in SECRET_VARIABLES:
        assert variable in run.stderr
    assert "`lettering keys generate`" in run.stderr
