"""GraphQL over Server-Sent Events (the "distinct connections" mode of the GraphQL over
SSE protocol), for clients without WebSockets: `POST /graphql` with `Accept:
text/event-stream` answers a stream of `event: next` (each result) ending with `event:
complete`. The token is the request's `Authorization` header, verified as for any
request; when it expires, the stream sends an UNAUTHENTICATED error and completes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import strawberry
from starlette.responses import StreamingResponse

from resolvers.core.context import Context
from resolvers.core.database import Database
from resolvers.core.identity import Viewer
from resolvers.core.realtime import RealtimeHub
from resolvers.core.settings import Settings
from schema.engine.websocket import error_payload, start_operation

EVENT_STREAM = "text/event-stream"


def wants_event_stream(accept: str | None) -> bool:
    return bool(accept) and EVENT_STREAM in (accept or "").lower()


def _event(kind: str, data: Any = None) -> bytes:
    body = "" if data is None else json.dumps(data, default=str)
    return f"event: {kind}\ndata: {body}\n\n".encode()


def _payload(result: Any, request_id: str) -> dict[str, Any]:
    body: dict[str, Any] = {"data": result.data}
    if result.errors:
        body["errors"] = error_payload(list(result.errors), request_id)
    return body


def event_stream(
    schema: strawberry.Schema,
    db: Database,
    settings: Settings,
    hub: RealtimeHub,
    viewer: Viewer,
    expires_at: float | None,
    query: str,
    variables: dict[str, Any] | None,
    operation_name: str | None,
) -> StreamingResponse:
    request_id = uuid.uuid4().hex

    async def events() -> AsyncIterator[bytes]:
        context = Context(viewer=viewer, db=db, settings=settings, request_id=request_id)
        context.realtime = hub
        results: Any = None
        try:
            results = await start_operation(schema, context, query, variables, operation_name)
            if not hasattr(results, "__aiter__"):  # one result: refused, or not a subscription
                yield _event("next", _payload(results, request_id))
                yield _event("complete")
                return
            remaining = None if expires_at is None else max(0.0, expires_at - time.time())
            try:
                async with asyncio.timeout(remaining):
                    async for result in results:
                        yield _event("next", _payload(result, request_id))
            except TimeoutError:
                yield _event(
                    "next",
                    {
                        "data": None,
                        "errors": [
                            {"message": "Token expired", "extensions": {"code": "UNAUTHENTICATED"}}
                        ],
                    },
                )
            yield _event("complete")
        finally:
            aclose = getattr(results, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
            context.close()

    return StreamingResponse(
        events(),
        media_type=EVENT_STREAM,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
