"""CPU per request of the HTTP clients the carrier push could use (issue 11: measure before switching).

Run: .venv/bin/python bench/http_client.py [--requests 3000] [--concurrency 8]

The server is bench/floor_app.py in its own process; each client posts the same small JSON body
(a lettering push is ~600 bytes) over keep-alive connections, `--concurrency` at a time, and reads
the JSON answer. Reported: client CPU (utime + stime of this process) per request, and requests/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = (
    str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
)
BODY = json.dumps(
    {
        "request_id": "0" * 32,
        "caller": "+82311234567",
        "callee": "+821012345678",
        "agency": "한빛특례시",
        "department": "민원여권과",
        "guidance": "여권 발급 안내" * 10,
    }
).encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu() -> float:
    t = os.times()
    return t.user + t.system


async def run(label: str, send, n: int, concurrency: int) -> None:  # type: ignore[no-untyped-def]
    for _ in range(50):  # warm up: connections open, code paths hot
        await send()
    sem = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with sem:
            await send()

    c0, t0 = cpu(), time.monotonic()
    await asyncio.gather(*(one() for _ in range(n)))
    c1, t1 = cpu(), time.monotonic()
    print(f"  {label:28s} {(c1 - c0) * 1e6 / n:7.0f} µs CPU/request   {n / (t1 - t0):7.0f} req/s")


async def main_async(port: int, n: int, concurrency: int) -> None:
    import aiohttp
    import httpcore
    import httpx

    url = f"http://127.0.0.1:{port}/v1/pbx/events"
    headers = {"content-type": "application/json", "authorization": "Bearer x"}
    async with httpx.AsyncClient(limits=httpx.Limits(max_keepalive_connections=32)) as client:

        async def httpx_send() -> None:
            r = await client.post(url, content=BODY, headers=headers, timeout=httpx.Timeout(2.0, connect=0.5))
            assert r.status_code == 200, r.status_code
            r.json()

        await run(f"httpx {httpx.__version__}", httpx_send, n, concurrency)
    from httpx_aiohttp import AiohttpTransport

    transport = AiohttpTransport(limits=httpx.Limits(max_keepalive_connections=32))
    async with httpx.AsyncClient(transport=transport) as client:

        async def bridged_send() -> None:
            r = await client.post(url, content=BODY, headers=headers, timeout=httpx.Timeout(2.0, connect=0.5))
            assert r.status_code == 200, r.status_code
            r.json()

        await run("httpx over httpx-aiohttp", bridged_send, n, concurrency)

        target = httpx.URL(url)
        extensions = {"timeout": httpx.Timeout(2.0, connect=0.5).as_dict()}

        async def transport_send() -> None:
            # The client's machinery (URL and header merging, cookies, auth, redirects, hooks)
            # left out: a Request handed straight to the transport, as carriers/http.py does.
            request = httpx.Request("POST", target, content=BODY, headers=headers, extensions=extensions)
            r = await transport.handle_async_request(request)
            await r.aread()
            assert r.status_code == 200, r.status_code
            json.loads(r.content)

        await run("httpx Request to the transport", transport_send, n, concurrency)
    async with httpcore.AsyncConnectionPool(max_keepalive_connections=32) as pool:

        async def httpcore_send() -> None:
            r = await pool.request("POST", url, content=BODY, headers=headers)
            assert r.status == 200, r.status
            json.loads(r.content)

        await run(f"httpcore {httpcore.__version__}", httpcore_send, n, concurrency)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32)) as session:

        async def aiohttp_send() -> None:
            async with session.post(
                url, data=BODY, headers=headers, timeout=aiohttp.ClientTimeout(total=2.0, connect=0.5)
            ) as r:
                assert r.status == 200, r.status
                await r.json()

        await run(f"aiohttp {aiohttp.__version__}", aiohttp_send, n, concurrency)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    port = free_port()
    server = subprocess.Popen(
        [PY, str(ROOT / "bench" / "floor_app.py"), "--port", str(port), "--workers", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        print(
            f"{args.requests} POSTs of {len(BODY)} bytes, {args.concurrency} at a time,"
            " server in its own process"
        )
        asyncio.run(main_async(port, args.requests, args.concurrency))
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
