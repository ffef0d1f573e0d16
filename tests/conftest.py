"""The whole suite's ground rules.

Without LETTERING_ENV the service runs as in production (refusing the development keys and the
in-process simulators). The tests run on those keys and simulators, so they say `dev` here, once,
before any Settings is built; a test about the production default removes it with monkeypatch.
"""

from __future__ import annotations

import os

os.environ.setdefault("LETTERING_ENV", "dev")
