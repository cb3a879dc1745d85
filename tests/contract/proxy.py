"""A validating reverse proxy over real loopback HTTP: declsync → proxy → sandbox.

The proxy forwards each request unchanged to the upstream over HTTP (httpx) and relays the
answer unchanged; ``ContractMiddleware`` around it checks every exchange against the
contract, so the checks see exactly the bytes on the wire, as a proxy in front of the real
API would.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn
from starlette.types import Receive, Scope, Send

from contract.asgi import ContractMiddleware
from contract.checker import Contract

# Hop-by-hop and length headers: each side of the proxy sets its own.
_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "host", "content-encoding"})


class Forwarder:
    """ASGI app sending each request on to ``upstream`` (scheme://host:port) and relaying the answer."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.client = httpx.AsyncClient(timeout=30)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        query = scope.get("query_string", b"").decode("latin-1")
        url = self.upstream + raw_path + (f"?{query}" if query else "")
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]
                   if k.decode("latin-1").lower() not in _HOP]
        answer = await self.client.request(scope["method"], httpx.URL(url), headers=headers, content=body)
        out = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers.items() if k.lower() not in _HOP]
        out.append((b"content-length", str(len(answer.content)).encode()))
        await send({"type": "http.response.start", "status": answer.status_code, "headers": out})
        await send({"type": "http.response.body", "body": answer.content, "more_body": False})


@contextmanager
def validating_proxy(upstream: str, contract: Contract) -> Iterator[str]:
    """A proxy of ``upstream`` on a free loopback port, checking against ``contract``; yields
    its URL (same path layout as the upstream: add ``/v1``)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    app = ContractMiddleware(Forwarder(upstream), contract)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="contract-proxy", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError("the validating proxy did not start")
        time.sleep(0.005)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
