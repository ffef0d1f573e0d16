"""The floor for bench/load.py: a bare FastAPI app with the service's webhook route and nothing else.

`POST /v1/pbx/events` reads the body and answers a small JSON; no signature check, no database.
It is served like the service (`lettering serve`): uvicorn, httptools with TCP_NODELAY on every
connection (lettering.core.serving), the same worker count, no access log, log level WARNING. Whatever
the service costs above this is the call path's own work.

Run: .venv/bin/python bench/floor_app.py --port 8200 --workers 2
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

app = FastAPI()


@app.post("/v1/pbx/events")
async def events(request: Request) -> JSONResponse:
    body = await request.body()
    return JSONResponse({"lettering": "floor", "bytes": len(body)})


def main() -> None:
    import uvicorn

    try:
        from lettering.core.serving import http_protocol
    except ImportError:  # an older tree under test: plain httptools
        http = "httptools"
    else:
        http = http_protocol()  # type: ignore[assignment]

    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8200)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    uvicorn.run(
        "bench.floor_app:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="warning",
        access_log=False,
        http=http,
    )


if __name__ == "__main__":
    main()
