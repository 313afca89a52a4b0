"""GraphQL over WebSocket: the `graphql-transport-ws` protocol (the graphql-ws library's,
which Apollo Client's GraphQLWsLink and urql speak) on `/graphql`.

The token travels in `connection_init` (`{"token": ...}` or `{"Authorization": "Bearer
..."}`) and is verified as on HTTP; a bad one closes the socket with 4403, and the socket
closes with 4403 "Token expired" when the token does. Operations are checked as HTTP's
are (depth, cost, tokens: the schema's extensions). Subscriptions are fed by the process's
`RealtimeHub` (resolvers/core/realtime.py) under the tables' policies.

Close codes are the protocol's: 4400 bad message, 4401 operation before the
acknowledgement, 4403 forbidden, 4406 subprotocol, 4408 init timeout, 4409 duplicate
operation id, 4429 too many init requests or connections; 1009 message too big."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import strawberry
from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
)
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from resolvers.core.context import Context
from resolvers.core.database import Database, statement_counter
from resolvers.core.errors import Unauthenticated
from resolvers.core.identity import ANON, TokenVerifier, Viewer, load_viewer
from resolvers.core.realtime import RealtimeHub
from resolvers.core.settings import Settings
from schema.engine.error_codes import coded
from schema.engine.limits import limit_errors, parse_document

logger = logging.getLogger("caregraph.websocket")

PROTOCOL = "graphql-transport-ws"


class _Closed(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def error_payload(errors: list[GraphQLError], request_id: str) -> list[dict[str, Any]]:
    """Errors as a response carries them, each with its code (as for HTTP)."""
    from schema.engine.http import _coded

    return [_coded(coded(error, request_id), request_id) for error in errors]


async def start_operation(
    schema: strawberry.Schema,
    context: Context,
    query: str,
    variables: dict[str, Any] | None,
    name: str | None,
) -> Any:
    """A subscription's async iterator of results; for any other operation (or a
    subscription refused before it started: invalid, or past the document limits), its
    one result."""
    try:
        document = parse_document(query, context.settings.max_tokens)
    except GraphQLError:
        document = None  # graphql-core reports it, as for any operation
    operation = _operation(document, name) if document is not None else None
    if operation is None or operation.operation is not OperationType.SUBSCRIPTION:
        # On the primary, with read replicas too; a mutation's write is recorded for
        # read-your-writes on HTTP (resolvers/core/replicas.py).
        viewer = context.viewer
        async with context.db.operation_scope(
            viewer.user_id, viewer.written_lsn, replica_reads=False
        ):
            return await schema.execute(
                query, variable_values=variables, context_value=context, operation_name=name
            )
    assert document is not None
    refused = limit_errors(
        schema._schema,
        document,
        context,
        query=query,
        operation_name=name,
        variables=variables,
    )
    if refused:
        return ExecutionResult(data=None, errors=refused)
    if context.realtime is not None:
        # The caller's task runs the subscription to its end: its statements are counted.
        statement_counter.set(context.realtime.payload_statements)
    return await schema.subscribe(
        query, variable_values=variables, context_value=context, operation_name=name
    )


def hub_for(app_state: dict[str, Any], settings: Settings) -> RealtimeHub:
    """The app's realtime hub (made on first use: apps that never serve a subscription
    open no LISTEN connection)."""
    hub: RealtimeHub | None = app_state.get("realtime")
    if hub is None or hub.db is not app_state["db"]:
        hub = RealtimeHub(app_state["db"], settings.realtime_database_url)
        app_state["realtime"] = hub
    return hub


class GraphQLWebSocket:
    """One instance per app; `__call__` serves one socket."""

    def __init__(self, schema: strawberry.Schema, settings: Settings, app_state: dict[str, Any]):
        self.schema = schema
        self.settings = settings
        self.app_state = app_state
        self.verifier = TokenVerifier(settings)
        self.connections: Counter[Any] = Counter()

    @property
    def db(self) -> Database:
        database: Database = self.app_state["db"]
        return database

    @property
    def hub(self) -> RealtimeHub:
        return hub_for(self.app_state, self.settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        websocket = WebSocket(scope, receive, send)
        offered = websocket.scope.get("subprotocols") or []
        if PROTOCOL not in offered:
            await websocket.accept()
            await websocket.close(4406, "Subprotocol not acceptable")
            return
        await websocket.accept(subprotocol=PROTOCOL)
        connection = _Connection(self, websocket)
        try:
            await connection.serve()
        except _Closed as closed:
            await connection.close(closed.code, closed.reason)
        except WebSocketDisconnect:
            pass
        finally:
            await connection.stop()


class _Connection:
    def __init__(self, server: GraphQLWebSocket, websocket: WebSocket) -> None:
        self.server = server
        self.settings = server.settings
        self.websocket = websocket
        self.viewer: Viewer = ANON
        self.viewer_key: Any = None
        self.operations: dict[str, asyncio.Task[None]] = {}
        self.send_lock = asyncio.Lock()
        # Timer handles, not tasks: an idle connection keeps no coroutine of its own waiting
        # for its keep-alive ping or its token's expiry.
        self.ping_timer: asyncio.TimerHandle | None = None
        self.expiry_timer: asyncio.TimerHandle | None = None
        self.sending: set[asyncio.Task[None]] = set()

    # --- the socket ---------------------------------------------------------------------

    async def serve(self) -> None:
        init_timeout = self.settings.ws_init_timeout_seconds
        try:
            async with asyncio.timeout(init_timeout):
                first = await self.receive()
        except TimeoutError:
            raise _Closed(4408, "Connection initialisation timeout") from None
        if first.get("type") != "connection_init":
            raise _Closed(4401, "Unauthorized")
        await self.initialise(first.get("payload"))
        del first  # its token: not kept for the connection's life
        while True:
            message = await self.receive()
            await self.handle(message)

    async def receive(self) -> dict[str, Any]:
        text = await self.websocket.receive_text()
        if len(text.encode()) > self.settings.ws_max_message_bytes:
            raise _Closed(1009, "Message too big")
        try:
            message = json.loads(text)
        except ValueError:
            raise _Closed(4400, "Invalid message: not JSON") from None
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            raise _Closed(4400, "Invalid message: an object with a `type`")
        return message

    async def send(self, message: dict[str, Any]) -> None:
        async with self.send_lock:
            if self.websocket.application_state == WebSocketState.CONNECTED:
                await self.websocket.send_text(json.dumps(message, default=str))

    async def close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            if self.websocket.application_state == WebSocketState.CONNECTED:
                await self.websocket.close(code, reason)

    async def stop(self) -> None:
        for timer in (self.ping_timer, self.expiry_timer):
            if timer is not None:
                timer.cancel()
        tasks = [*self.operations.values(), *self.sending]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        self.operations.clear()
        if self.viewer_key is not None:
            self.server.connections[self.viewer_key] -= 1
            if self.server.connections[self.viewer_key] <= 0:
                del self.server.connections[self.viewer_key]

    # --- protocol -----------------------------------------------------------------------

    async def initialise(self, payload: Any) -> None:
        token = None
        if isinstance(payload, dict):
            token = payload.get("token")
            header = payload.get("Authorization") or payload.get("authorization")
            if token is None and isinstance(header, str):
                scheme, _, value = header.partition(" ")
                token = value.strip() if scheme.lower() == "bearer" else None
                if token is None:
                    raise _Closed(4403, "Forbidden: Authorization must be `Bearer <token>`")
        expires_at: float | None = None
        if token is not None:
            if not isinstance(token, str) or not token.strip():
                raise _Closed(4403, "Forbidden: invalid token")
            try:
                claims = await self.server.verifier.verify(token.strip())
                self.viewer = await load_viewer(self.server.db, claims)
            except Unauthenticated as error:
                raise _Closed(4403, f"Forbidden: {error.message}"[:120]) from None
            expires_at = float(claims["exp"])
        key = self.viewer.user_id or self.viewer.role
        if self.server.connections[key] >= self.settings.ws_max_connections_per_viewer:
            raise _Closed(4429, "Too many connections for this viewer")
        self.server.connections[key] += 1
        self.viewer_key = key
        await self.send({"type": "connection_ack"})
        loop = asyncio.get_running_loop()
        if expires_at is not None:
            delay = max(0.0, expires_at - time.time())
            self.expiry_timer = loop.call_later(delay, self._start_expiry)
        self.ping_timer = loop.call_later(self.settings.ws_ping_seconds, self._ping)

    def _start(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self.sending.add(task)
        task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self.sending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.debug("a ping or close did not reach the client: %r", task.exception())

    def _start_expiry(self) -> None:
        self._start(self.close(4403, "Token expired"))

    def _ping(self) -> None:
        """Sends a ping and arms the next one (the keep-alive of graphql-transport-ws); a
        client that has not taken the last ping yet gets no other on top of it."""
        if not self.sending:
            self._start(self.send({"type": "ping"}))
        loop = asyncio.get_running_loop()
        self.ping_timer = loop.call_later(self.settings.ws_ping_seconds, self._ping)

    async def handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "connection_init":
            raise _Closed(4429, "Too many initialisation requests")
        if kind == "ping":
            await self.send({"type": "pong"})
        elif kind == "pong":
            return
        elif kind == "subscribe":
            await self.subscribe(message)
        elif kind == "complete":
            operation_id = message.get("id")
            task = (
                self.operations.pop(operation_id, None) if isinstance(operation_id, str) else None
            )
            if task is not None:
                task.cancel()
        else:
            raise _Closed(4400, f"Invalid message type {kind!r}")

    async def subscribe(self, message: dict[str, Any]) -> None:
        operation_id = message.get("id")
        payload = message.get("payload")
        if not isinstance(operation_id, str) or not operation_id or not isinstance(payload, dict):
            raise _Closed(4400, "Invalid subscribe message: `id` and `payload` required")
        query = payload.get("query")
        variables = payload.get("variables")
        operation_name = payload.get("operationName")
        if not isinstance(query, str) or (
            variables is not None and not isinstance(variables, dict)
        ):
            raise _Closed(4400, "Invalid subscribe message: `payload.query` required")
        if operation_id in self.operations:
            raise _Closed(4409, f"Subscriber for {operation_id} already exists")
        if len(self.operations) >= self.settings.ws_max_subscriptions:
            await self.send(
                {
                    "id": operation_id,
                    "type": "error",
                    "payload": [
                        {
                            "message": "Too many operations on this connection "
                            f"(at most {self.settings.ws_max_subscriptions}).",
                            "extensions": {"code": "TOO_MANY_SUBSCRIPTIONS"},
                        }
                    ],
                }
            )
            return
        task = asyncio.create_task(
            self.run(
                operation_id,
                query,
                variables,
                operation_name if isinstance(operation_name, str) else None,
            )
        )
        self.operations[operation_id] = task

    async def run(
        self, operation_id: str, query: str, variables: dict[str, Any] | None, name: str | None
    ) -> None:
        request_id = uuid.uuid4().hex
        context = Context(
            viewer=self.viewer, db=self.server.db, settings=self.settings, request_id=request_id
        )
        context.realtime = self.server.hub
        try:
            result = await start_operation(self.server.schema, context, query, variables, name)
            if not hasattr(result, "__aiter__"):  # one result
                if not await self._send_result(operation_id, result, request_id):
                    return
            else:
                async for item in _closing(result):
                    await self._send_result(operation_id, item, request_id, streaming=True)
            await self.send({"id": operation_id, "type": "complete"})
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("subscription %s failed (request id %s)", operation_id, request_id)
            await self.send(
                {
                    "id": operation_id,
                    "type": "error",
                    "payload": [
                        {
                            "message": f"Internal server error (request id {request_id}).",
                            "extensions": {"code": "INTERNAL_SERVER_ERROR"},
                        }
                    ],
                }
            )
        finally:
            context.close()
            self.operations.pop(operation_id, None)

    async def _send_result(
        self,
        operation_id: str,
        result: Any,
        request_id: str,
        *,
        streaming: bool = False,
    ) -> bool:
        """Sends `result` as `next`, or as `error` when it is a request error (no data,
        errors without a path: refused before execution); True when it was `next`."""
        errors = error_payload(list(result.errors or []), request_id)
        refused = result.data is None and errors and all(not e.get("path") for e in errors)
        if refused and not streaming:
            await self.send({"id": operation_id, "type": "error", "payload": errors})
            return False
        body: dict[str, Any] = {"data": result.data}
        if errors:
            body["errors"] = errors
        await self.send({"id": operation_id, "type": "next", "payload": body})
        return True


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        if name is None or (definition.name is not None and definition.name.value == name):
            return definition
    return None


async def _closing(results: AsyncIterator[Any]) -> AsyncIterator[Any]:
    try:
        async for result in results:
            yield result
    finally:
        aclose = getattr(results, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()
