"""The service's logging: one format with timestamps for lettering, uvicorn and the libraries, as
text or JSON lines, and every line redacted before it is written.

Redaction is the last step of formatting, so it covers the message, its arguments, uvicorn's access
line and any traceback: link tokens (`/o/<token>`, `?t=`), verification codes (`?code=`), and
citizens' mobile numbers never reach a log in clear text, whichever code wrote the line.

`log_config` is a `logging.config.dictConfig` dictionary; `lettering serve` hands it to uvicorn,
which applies it in every worker process (workers are spawned afresh and keep nothing else).
"""

from __future__ import annotations

import logging
import logging.config
import re
from typing import Any, Literal

from pythonjsonlogger.json import JsonFormatter

LogFormat = Literal["text", "json"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"
REDACTED = "[redacted]"

_SECRETS = (
    # An opt-out link's token is the path segment after /o/.
    (re.compile(r"(/o/)[^/?#\s\"'<>]+"), rf"\g<1>{REDACTED}"),
    # Card-news tokens, call-check codes, and any other token or number carried in a query string.
    (re.compile(r"([?&](?:t|code|token|csrf_token|number|callee)=)[^&#\s\"'<>]+"), rf"\g<1>{REDACTED}"),
    # A Korean mobile number in any of its usual forms (010-1234-5678, 01012345678, +82 10 …).
    (
        re.compile(r"(?<![\d+])(?:\+?82[-. ]?|0)1[016789][-. )]?\d{3,4}[-. ]?\d{4}(?!\d)"),
        "[number]",
    ),
)


def redact(text: str) -> str:
    """`text` with link tokens, codes and mobile numbers replaced."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class TextLines(logging.Formatter):
    """`TEXT_FORMAT`, redacted."""

    def __init__(self, fmt: str = TEXT_FORMAT, datefmt: str | None = None) -> None:
        super().__init__(fmt, datefmt)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonLines(JsonFormatter):
    """One JSON object per line: time, level, logger, message (and exc_info), redacted."""

    def __init__(self) -> None:
        super().__init__(
            JSON_FIELDS,
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            json_ensure_ascii=False,
        )

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def _quiet_level(level: str, floor: int = logging.WARNING) -> int:
    """At least `floor`: libraries whose INFO is one line per request (httpx) or per job run
    (apscheduler) speak from WARNING unless the service itself logs at DEBUG."""
    number = logging.getLevelName(level.upper())
    number = number if isinstance(number, int) else logging.INFO
    return number if number <= logging.DEBUG else max(floor, number)


def log_config(level: str = "INFO", log_format: LogFormat = "text") -> dict[str, Any]:
    """The whole logging setup as a dictConfig: one handler on the root, everything propagates."""
    formatter: dict[str, Any] = {"()": f"{__name__}.{'JsonLines' if log_format == 'json' else 'TextLines'}"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"service": formatter},
        "handlers": {
            "service": {
                "class": "logging.StreamHandler",
                "formatter": "service",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level.upper(), "handlers": ["service"]},
        "loggers": {
            # uvicorn's own handlers and formats are replaced: its lines go through the root's.
            "uvicorn": {"level": level.upper(), "handlers": [], "propagate": True},
            "uvicorn.error": {"level": level.upper(), "handlers": [], "propagate": True},
            "uvicorn.access": {"level": level.upper(), "handlers": [], "propagate": True},
            "httpx": {"level": _quiet_level(level)},
            "httpcore": {"level": _quiet_level(level)},
            "apscheduler": {"level": _quiet_level(level)},
        },
    }


def configure_logging(level: str = "INFO", log_format: LogFormat = "text") -> None:
    """Apply `log_config` in this process (the CLI's commands and `lettering worker`)."""
    logging.config.dictConfig(log_config(level, log_format))
