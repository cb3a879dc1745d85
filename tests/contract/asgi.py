"""ASGI middleware that checks every exchange with the sandbox app against the contract.

It buffers the request body before the app runs (and replays it), copies the answer as it
is sent, and records the violations of each complete exchange in the ``Contract``. An answer
the app deliberately leaves unfinished (``drop_after_commit``) is not an exchange: unchecked.
An exchange is recorded before its last byte is sent, so the client never sees an answer whose
violations are not recorded yet.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contract.checker import Contract


def _decode(raw: list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    return [(name.decode("latin-1"), value.decode("latin-1")) for name, value in raw]


class ContractMiddleware:
    def __init__(self, app: ASGIApp, contract: Contract) -> None:
        self.app = app
        self.contract = contract

    @classmethod
    def around(cls, contract: Contract) -> Callable[[ASGIApp], ASGIApp]:
        """For ``SandboxServer(middleware=...)``."""
        return lambda app: cls(app, contract)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        answer: dict[str, Any] = {"status": 0, "headers": [], "body": []}

        async def copy(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                answer["headers"] = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                answer["body"].append(message.get("body", b""))
                if not message.get("more_body", False):
                    # Recorded BEFORE the last byte goes out: once the client has its answer,
                    # the violation is there for the test that sent the request to see.
                    self._record(scope, body, answer)
            await send(message)

        await self.app(scope, replay, copy)

    def _record(self, scope: Scope, body: bytes, answer: dict[str, Any]) -> None:
        self.contract.record(self.contract.check(
            # The raw path, still percent-encoded: a key with "/" stays one {id} segment.
            scope["method"], (scope.get("raw_path") or scope["path"].encode()).decode("latin-1"),
            scope.get("query_string", b"").decode("latin-1"),
            _decode(scope.get("headers", [])), body,
            answer["status"], _decode(answer["headers"]), b"".join(answer["body"]),
        ))
