"""The service's log lines: one timestamped format (or JSON lines), libraries quiet, and no link
token, call-check code or citizen's number in clear text, whichever logger wrote it."""

from __future__ import annotations

import io
import json
import logging
import logging.config
from collections.abc import Iterator

import pytest

from lettering.core.logs import LogFormat, configure_logging, log_config, redact


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ('127.0.0.1:5 - "GET /o/eyJhIjoxfQ.ZxY-12_ab HTTP/1.1" 200', "eyJhIjoxfQ.ZxY-12_ab"),
        ('127.0.0.1:5 - "POST /o/eyJhIjoxfQ.ZxY HTTP/1.1" 303', "eyJhIjoxfQ.ZxY"),
        ('"GET /c/spring-2026?t=Tok3n.abc HTTP/1.1" 200', "Tok3n.abc"),
        ('"GET /c/spring-2026/img/1?x=1&t=Tok3n HTTP/1.1" 200', "Tok3n"),
        ('"GET /verify?code=AB12CD HTTP/1.1" 200', "AB12CD"),
        ('"POST /admin/directory/import?csrf_token=Se55ion-Tok HTTP/1.1" 200', "Se55ion-Tok"),
        ("callee 010-1234-5678 refused", "1234-5678"),
        ("callee 01012345678 refused", "12345678"),
        ("callee +82 10-1234-5678 refused", "1234-5678"),
        ("callee 011.234.5678 refused", "234.5678"),
    ],
)
def test_secrets_are_redacted(line: str, secret: str) -> None:
    assert secret not in redact(line)
    assert "[redacted]" in redact(line) or "[number]" in redact(line)


@pytest.mark.parametrize(
    "line",
    [
        "agency caller 031-5180-2114 registered",  # an agency's desk line is not personal data
        '"GET /c/spring-2026 HTTP/1.1" 200',
        '"GET /verify HTTP/1.1" 200',
        "call 20261203-000123 settled in 12 ms",
    ],
)
def test_other_text_is_left_alone(line: str) -> None:
    assert redact(line) == line


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The root handler's stream, restored afterwards."""
    saved = logging.root.handlers[:], logging.root.level
    yield io.StringIO()
    logging.root.handlers[:] = saved[0]
    logging.root.setLevel(saved[1])
    logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})


def _use(stream: io.StringIO, level: str = "INFO", fmt: LogFormat = "text") -> None:
    configure_logging(level, fmt)
    handler = logging.root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)


def test_uvicorns_access_line_is_timestamped_and_redacted(captured: io.StringIO) -> None:
    _use(captured)
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "10.0.0.7:51000", "GET", "/o/eyJzZWNyZXQ.abc", "1.1", 200
    )
    line = captured.getvalue().strip()
    assert "eyJzZWNyZXQ" not in line
    assert line.endswith('uvicorn.access: 10.0.0.7:51000 - "GET /o/[redacted] HTTP/1.1" 200')
    assert line[:4].isdigit()  # starts with the time: 2026-12-03 06:50:01,123 INFO …


def test_a_traceback_is_redacted_too(captured: io.StringIO) -> None:
    _use(captured)
    try:
        raise ValueError("lookup failed for 010-9876-5432 at /verify?code=QQ11ZZ")
    except ValueError:
        logging.getLogger("lettering.verify").exception("check failed")
    out = captured.getvalue()
    assert "ValueError" in out
    assert "9876" not in out
    assert "QQ11ZZ" not in out


def test_json_lines(captured: io.StringIO) -> None:
    _use(captured, fmt="json")
    logging.getLogger("lettering.webhook").warning("refused %s", "/o/eyJtoken.sig")
    record = json.loads(captured.getvalue())
    assert record["level"] == "WARNING"
    assert record["logger"] == "lettering.webhook"
    assert record["message"] == "refused /o/[redacted]"
    assert record["time"][:2] == "20"


def test_httpx_request_lines_are_off_unless_debugging(captured: io.StringIO) -> None:
    _use(captured)
    logging.getLogger("httpx").info('HTTP Request: POST http://carrier/v1/lettering "HTTP/1.1 200 OK"')
    logging.getLogger("lettering.dispatch").info("pushed")
    assert "HTTP Request" not in captured.getvalue()
    assert "pushed" in captured.getvalue()
    assert log_config("DEBUG")["loggers"]["httpx"]["level"] == logging.DEBUG
    assert log_config("ERROR")["loggers"]["httpx"]["level"] == logging.ERROR
