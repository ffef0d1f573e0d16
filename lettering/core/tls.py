"""The TLS context of every outgoing HTTPS client (carriers, the AlimTalk dealer).

One verifying context per process, made as httpx makes its default (certifi's CA bundle, or
SSL_CERT_FILE / SSL_CERT_DIR when set): loading the CA bundle costs ~45 ms of CPU, and each
client made its own (four per start of the service). An SSLContext is safe to share between
connections and clients.
"""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def client_tls() -> ssl.SSLContext:
    return httpx.create_ssl_context()
