"""Request bodies capped before they are read: a pure ASGI middleware, so a body the server will not take costs
neither memory nor a worker's time. A Content-Length over the cap is answered 413 before a byte of the body is
read; a body that comes without one (chunked) is counted as it streams, and refused the moment it passes the cap."""
from __future__ import annotations

import json
from typing import Any, Awaitable, Callable

from starlette.exceptions import HTTPException

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class BodyTooLarge(HTTPException):
    """Raised from `receive` when a streamed body passes the cap; the app's HTTPException handler answers 413."""

    def __init__(self, cap: int) -> None:
        super().__init__(413, f"request body is larger than {cap} bytes")


async def _answer(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    def __init__(self, app: Any, max_body: int) -> None:
        self.app, self.max_body = app, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        lengths = [v for k, v in scope.get("headers", ()) if k == b"content-length"]
        if lengths:
            try:
                declared = int(lengths[0])
            except ValueError:
                await _answer(send, 400, "Content-Length is not a number")
                return
            if declared > self.max_body:
                await _answer(send, 413, f"request body is larger than {self.max_body} bytes")
                return
        cap, seen = self.max_body, 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > cap:
                    raise BodyTooLarge(cap)
            return message

        await self.app(scope, counted, send)
