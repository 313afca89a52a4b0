"""GraphQL over HTTP: the `/graphql` endpoint.

Follows the GraphQL-over-HTTP spec: POST with JSON, GET for queries only (a mutation
over GET is 405 with `Allow: POST`), `application/graphql-response+json` with the spec's
status codes when the client accepts it and `application/json` otherwise, 400/413/415 for
broken requests. Also: Apollo automatic persisted queries, trusted documents, optional
batching, GraphiQL (admin-only in production) and the per-request viewer: a bad token is
HTTP 401 with code UNAUTHENTICATED, never a silent downgrade to anon.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
import strawberry
from graphql import GraphQLError, OperationDefinitionNode
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from resolvers.core import idempotency
from resolvers.core.context import Context
from resolvers.core.database import CommitCounter, Database, commit_counter
from resolvers.core.errors import RETRY_AFTER_SECONDS, ServiceUnavailable, Unauthenticated
from resolvers.core.identity import ANON, TokenVerifier, Viewer, load_viewer
from resolvers.core.outages import unavailable
from resolvers.core.persisted_queries import PersistedQueryStore, document_hash
from resolvers.core.settings import Settings
from schema.engine.graphiql import graphiql_forbidden, graphiql_page
from schema.engine.limits import introspection_allowed, parse_document, variables_problem
from schema.engine.rate_limits import rate_limit_for
from schema.engine.sql_json import RawJson
from schema.engine.sse import event_stream, wants_event_stream
from schema.engine.websocket import hub_for

logger = logging.getLogger("caregraph.errors")

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
GRAPHIQL_COOKIE = "caregraph_token"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")
_RETRY_AFTER = {"Retry-After": str(RETRY_AFTER_SECONDS)}
# An idempotent mutation that wrote nothing and failed with one of these gives its key
# back, so that its retry runs.
_RUN_AGAIN = {"SERVICE_UNAVAILABLE", "INTERNAL_SERVER_ERROR", "RATE_LIMITED"}
_RELEASE_SECONDS = 2.0
DEADLINE_GRACE_SECONDS = 1.0
"""How long past `request_timeout_seconds` (Postgres' statement_timeout) a request may
take before it is stopped."""


class RequestError(Exception):
    """A request that cannot be executed at all: answered with an HTTP error status."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str = "BAD_USER_INPUT",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}


@dataclass(frozen=True)
class GraphQLParams:
    query: str | None
    variables: dict[str, Any] | None
    operation_name: str | None
    extensions: dict[str, Any] | None


@dataclass
class Outcome:
    """One executed (or refused) operation: its response body and HTTP status."""

    body: dict[str, Any]
    status: int = 200
    headers: dict[str, str] | None = None


def _select_operation(
    query: str, operation_name: str | None, max_tokens: int
) -> OperationDefinitionNode | None:
    """The operation the request runs; None when the document does not parse (the
    executor reports the syntax error) or has no operation. An unknown `operationName`,
    or several operations and no name, is a 400."""
    try:
        document = parse_document(query, max_tokens)
    except GraphQLError:
        return None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        named = [o for o in operations if o.name is not None and o.name.value == operation_name]
        if not named:
            raise RequestError(400, f"Unknown operation named {operation_name!r}.")
        return named[0]
    if len(operations) > 1:
        raise RequestError(
            400,
            f"The document has {len(operations)} operations: pass `operationName` "
            "to pick the one to run.",
        )
    return operations[0] if operations else None


def _accepted_media_type(accept: str | None) -> str | None:
    """Picks the response media type; None means nothing acceptable (406)."""
    if not accept:
        return JSON
    best: tuple[float, int, str] | None = None
    for position, part in enumerate(accept.split(",")):
        pieces = [piece.strip() for piece in part.split(";")]
        media = pieces[0].lower()
        quality = 1.0
        for parameter in pieces[1:]:
            name, _, value = parameter.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality <= 0:
            continue
        if media == GRAPHQL_RESPONSE:
            chosen = GRAPHQL_RESPONSE
        elif media in (JSON, "application/*", "*/*"):
            chosen = JSON
        else:
            continue
        candidate = (quality, -position, chosen)
        if best is None or candidate > best:
            best = candidate
    return best[2] if best else None


def _error(message: str, code: str, **extensions: Any) -> dict[str, Any]:
    return {"message": message, "extensions": {"code": code, **extensions}}


def _coded(error: GraphQLError, request_id: str) -> dict[str, Any]:
    """The error as the response carries it. The schema's extensions give every error of
    execution its code; one raised around them (e.g. by graphql-core while coercing
    variables) arrives without, and is logged and masked as the bug it is."""
    formatted: dict[str, Any] = dict(error.formatted)
    if "code" in (formatted.get("extensions") or {}):
        return formatted
    original = error.original_error or error
    logger.error(
        "error without a code in request %s",
        request_id,
        exc_info=(type(original), original, original.__traceback__),
    )
    return _error(
        f"Internal server error (request id {request_id}).",
        "INTERNAL_SERVER_ERROR",
        requestId=request_id,
    )


class GraphQLEndpoint:
    def __init__(
        self,
        schema: strawberry.Schema,
        settings: Settings,
        app_state: dict[str, Any],
    ) -> None:
        self.schema = schema
        self.settings = settings
        self.app_state = app_state
        self.verifier = TokenVerifier(settings)

    @property
    def db(self) -> Database:
        database: Database = self.app_state["db"]
        return database

    @property
    def store(self) -> PersistedQueryStore:
        store = self.app_state.get("persisted_queries")
        if store is None or store.db is not self.db:
            store = PersistedQueryStore(self.db)
            self.app_state["persisted_queries"] = store
        return store

    @property
    def idempotency_store(self) -> idempotency.IdempotencyStore:
        keys = self.app_state.get("idempotency_keys")
        if keys is None or keys.db is not self.db:
            deadline = self.settings.request_timeout_seconds
            keys = idempotency.IdempotencyStore(
                self.db,
                ttl=timedelta(hours=self.settings.idempotency_key_hours),
                lease=timedelta(seconds=2 * deadline + 5),
                wait_seconds=deadline / 2,
            )
            self.app_state["idempotency_keys"] = keys
        return keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        # The deadline. Postgres stops a statement at the same limit (statement_timeout),
        # a little earlier, so a single slow statement ends with its own error and its
        # transaction rolled back; this stops the rest (many statements, waits).
        deadline = self.settings.request_timeout_seconds
        timer = asyncio.timeout(deadline + DEADLINE_GRACE_SECONDS)
        try:
            async with timer:
                response = await self.handle(request)
        except Exception as error:
            # Outside execution (e.g. loading the viewer): still a GraphQL error body.
            state = scope.setdefault("state", {})
            request_id = state.get("request_id") or uuid.uuid4().hex
            if timer.expired() and isinstance(error, TimeoutError):
                error = ServiceUnavailable.deadline(deadline)
            outage = unavailable(error)
            if outage is not None:
                logger.warning("database unavailable in request %s: %r", request_id, error)
                response = self._unavailable(request, outage)
                await response(scope, receive, send)
                return
            # Anything else is a bug: masked, with the request id that the log carries.
            logger.exception("unexpected error in request %s", request_id)
            state["error_codes"] = ["INTERNAL_SERVER_ERROR"]
            response = self._json(
                {
                    "errors": [
                        _error(
                            f"Internal server error (request id {request_id}).",
                            "INTERNAL_SERVER_ERROR",
                            requestId=request_id,
                        )
                    ]
                },
                500,
                JSON,
            )
        await response(scope, receive, send)

    # --- request handling ---------------------------------------------------------------

    async def handle(self, request: Request) -> Response:
        state = request.scope.setdefault("state", {})
        if request.method not in ("GET", "POST"):
            return self._json(
                {"errors": [_error("Use GET or POST.", "METHOD_NOT_ALLOWED")]},
                405,
                JSON,
                {"Allow": "GET, POST"},
            )
        media_type = _accepted_media_type(request.headers.get("accept"))
        if self._wants_graphiql(request):
            return await self._graphiql(request)
        if request.method == "POST" and wants_event_stream(request.headers.get("accept")):
            return await self._event_stream(request)
        if media_type is None:
            message = f"Accept {GRAPHQL_RESPONSE} or {JSON}."
            return self._json({"errors": [_error(message, "NOT_ACCEPTABLE")]}, 406, JSON)
        try:
            viewer = await self._authenticate(request.headers.get("authorization"))
        except Unauthenticated as error:
            state["error_codes"] = ["UNAUTHENTICATED"]
            return self._json(
                {"errors": [_error(error.message, "UNAUTHENTICATED")]},
                401,
                media_type,
                {"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        state["viewer_id"] = str(viewer.user_id) if viewer.user_id else viewer.role
        try:
            payload = await self._read_payload(request)
            if isinstance(payload, list):
                outcomes = await self._execute_batch(request, payload, viewer, media_type)
                return self._json([o.body for o in outcomes], 200, media_type)
            outcome = await self._execute_once(request, self._params(payload), viewer, media_type)
        except RequestError as error:
            state["error_codes"] = [error.code]
            return self._json(
                {"errors": [_error(error.message, error.code)]},
                error.status,
                media_type,
                error.headers,
            )
        return self._json(outcome.body, outcome.status, media_type, outcome.headers)

    async def _event_stream(self, request: Request) -> Response:
        """A subscription (or any operation) answered as Server-Sent Events."""
        header = request.headers.get("authorization")
        viewer, expires_at = ANON, None
        try:
            if header is not None:
                scheme, _, token = header.partition(" ")
                if scheme.lower() != "bearer" or not token.strip():
                    raise Unauthenticated("Authorization header must be `Bearer <token>`.")
                claims = await self.verifier.verify(token.strip())
                viewer = await load_viewer(self.db, claims)
                expires_at = float(claims["exp"])
            params = self._params(await self._read_payload(request))
        except Unauthenticated as error:
            return self._json({"errors": [_error(error.message, "UNAUTHENTICATED")]}, 401, JSON)
        except RequestError as error:
            return self._json({"errors": [_error(error.message, error.code)]}, error.status, JSON)
        if params.query is None:
            return self._json(
                {"errors": [_error("`query` is required.", "BAD_USER_INPUT")]}, 400, JSON
            )
        return event_stream(
            self.schema,
            self.db,
            self.settings,
            hub_for(self.app_state, self.settings),
            viewer,
            expires_at,
            params.query,
            params.variables,
            params.operation_name,
        )

    async def _authenticate(self, header: str | None) -> Viewer:
        if header is None:
            return ANON
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("Authorization header must be `Bearer <token>`.")
        claims = await self.verifier.verify(token.strip())
        return await load_viewer(self.db, claims)

    async def _read_body(self, request: Request) -> bytes:
        limit = self.settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None:
            try:
                too_big = int(declared) > limit
            except ValueError:
                raise RequestError(400, "Invalid Content-Length header.") from None
            if too_big:
                raise RequestError(413, f"Request body exceeds {limit} bytes.", "PAYLOAD_TOO_LARGE")
        body = bytearray()
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > limit:
                raise RequestError(413, f"Request body exceeds {limit} bytes.", "PAYLOAD_TOO_LARGE")
        return bytes(body)

    async def _read_payload(self, request: Request) -> Any:
        if request.method == "GET":
            params = request.query_params
            for key in ("variables", "extensions"):
                if len(params.getlist(key)) > 1:
                    raise RequestError(400, f"`{key}` given more than once.")
            payload: dict[str, Any] = {
                "query": params.get("query"),
                "operationName": params.get("operationName"),
            }
            for key in ("variables", "extensions"):
                raw = params.get(key)
                if raw is not None and raw != "":
                    try:
                        payload[key] = orjson.loads(raw)
                    except orjson.JSONDecodeError:
                        raise RequestError(400, f"`{key}` is not valid JSON.") from None
            return payload
        content_type = request.headers.get("content-type", "")
        media = content_type.split(";")[0].strip().lower()
        if media != JSON:
            raise RequestError(
                415,
                f"POST bodies must be {JSON}; got {media or 'no Content-Type'}.",
                "UNSUPPORTED_MEDIA_TYPE",
            )
        body = await self._read_body(request)
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            raise RequestError(400, "The body is not valid JSON.") from None

    def _params(self, payload: Any) -> GraphQLParams:
        if not isinstance(payload, dict):
            raise RequestError(400, "The request must be a JSON object.")
        query = payload.get("query")
        variables = payload.get("variables")
        operation_name = payload.get("operationName")
        extensions = payload.get("extensions")
        if query is not None and not isinstance(query, str):
            raise RequestError(400, "`query` must be a string.")
        if variables is not None and not isinstance(variables, dict):
            raise RequestError(400, "`variables` must be an object.")
        if operation_name is not None and not isinstance(operation_name, str):
            raise RequestError(400, "`operationName` must be a string.")
        if extensions is not None and not isinstance(extensions, dict):
            raise RequestError(400, "`extensions` must be an object.")
        if query is not None and "\x00" in query:
            raise RequestError(400, "`query` must not contain NUL characters.")
        if variables:
            problem = variables_problem(
                variables, self.settings.max_variable_depth, self.settings.max_variable_values
            )
            if problem is not None:
                raise RequestError(400, problem)
        return GraphQLParams(query, variables, operation_name or None, extensions)

    async def _execute_batch(
        self, request: Request, payload: list[Any], viewer: Viewer, media_type: str
    ) -> list[Outcome]:
        if not self.settings.batching_enabled:
            raise RequestError(400, "Batched requests are not enabled on this server.")
        if not payload:
            raise RequestError(400, "The batch is empty.")
        if idempotency.HEADER in request.headers:
            raise RequestError(400, "Send a request with an Idempotency-Key without batching.")
        if len(payload) > self.settings.max_batch_size:
            raise RequestError(
                400,
                f"The batch has {len(payload)} operations; at most "
                f"{self.settings.max_batch_size} are allowed.",
            )
        params = [self._params(item) for item in payload]
        return [await self._execute(request, item, viewer, media_type) for item in params]

    async def _resolve_document(self, params: GraphQLParams, viewer: Viewer) -> str | Outcome:
        """The document to run: the given query, or the stored one for a persisted-query
        hash (registering hash + query pairs, Apollo APQ)."""
        persisted = (params.extensions or {}).get("persistedQuery")
        trusted_only = self.settings.trusted_documents and not (
            viewer.is_admin or viewer.is_service
        )
        if persisted is None:
            if params.query is None:
                raise RequestError(400, "No GraphQL `query` in the request.")
            if trusted_only:
                await self._require_registered(document_hash(params.query))
            return params.query
        if not isinstance(persisted, dict) or persisted.get("version") != 1:
            raise RequestError(400, "Unsupported persistedQuery version; use 1.")
        sha256 = persisted.get("sha256Hash")
        if not isinstance(sha256, str) or not _SHA256.match(sha256):
            raise RequestError(400, "`sha256Hash` must be 64 lowercase hex characters.")
        if params.query is None:
            stored = await self.store.get(sha256, trusted=trusted_only)
            if stored is None or (trusted_only and not stored.trusted):
                return Outcome(
                    {"errors": [_error("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND")]}
                )
            return stored.document
        if document_hash(params.query) != sha256:
            raise RequestError(400, "provided sha does not match query", "BAD_USER_INPUT")
        if trusted_only:
            await self._require_registered(sha256)
        elif self.settings.apq_enabled:
            await self.store.save(params.query)
        return params.query

    async def _require_registered(self, sha256: str) -> None:
        """Trusted-documents mode: only documents registered by an operator run."""
        stored = await self.store.get(sha256, trusted=True)
        if stored is None or not stored.trusted:
            raise RequestError(
                400,
                "Only registered documents may run on this server.",
                "PERSISTED_QUERY_NOT_ALLOWED",
            )

    async def _execute_once(
        self, request: Request, params: GraphQLParams, viewer: Viewer, media_type: str
    ) -> Outcome:
        """`_execute`; a mutation with an `Idempotency-Key` runs once per key and viewer,
        its answer replayed to a retry (resolvers/core/idempotency.py). Queries ignore it."""
        key = request.headers.get(idempotency.HEADER)
        if key is None or request.method != "POST":
            return await self._execute(request, params, viewer, media_type)
        document = await self._resolve_document(params, viewer)
        if isinstance(document, Outcome):
            return await self._execute(request, params, viewer, media_type)
        operation = _select_operation(document, params.operation_name, self.settings.max_tokens)
        if operation is None or operation.operation.value != "mutation":
            return await self._execute(request, params, viewer, media_type)
        if not idempotency.KEY_PATTERN.match(key):
            raise RequestError(400, "Idempotency-Key must be 1 to 255 visible ASCII characters.")
        hashed = idempotency.request_hash(document, params.variables, params.operation_name)
        claim = await self.idempotency_store.claim(idempotency.viewer_scope(viewer), key, hashed)
        if isinstance(claim, idempotency.Replay):
            return Outcome(claim.body, claim.status, {"Idempotent-Replayed": "true"})
        if isinstance(claim, idempotency.Mismatch):
            raise RequestError(
                422, "This Idempotency-Key was used for another request; use a new key."
            )
        if isinstance(claim, idempotency.InUse):
            raise RequestError(
                409,
                "A request with this Idempotency-Key is still running; retry shortly.",
                "IDEMPOTENCY_KEY_IN_USE",
                _RETRY_AFTER,
            )
        commits = CommitCounter()
        reset = commit_counter.set(commits)
        try:
            outcome = await self._execute(request, params, viewer, media_type)
        except BaseException:
            if not commits.count:  # nothing written: the retry runs it
                await self._release_quietly(claim)
            raise
        finally:
            commit_counter.reset(reset)
        codes = {e.get("extensions", {}).get("code") for e in outcome.body.get("errors", [])}
        if not commits.count and (outcome.status >= 429 or codes & _RUN_AGAIN):
            await self._release_quietly(claim)
            return outcome
        try:
            await self.idempotency_store.finish(claim, outcome.body, outcome.status)
        except Exception as error:  # written already: answer it; the key lapses unanswered
            logger.warning("idempotency key %r kept no answer: %r", key, error)
        return outcome

    async def _release_quietly(self, claim: idempotency.Claimed) -> None:
        try:
            async with asyncio.timeout(_RELEASE_SECONDS):
                await self.idempotency_store.release(claim)
        except Exception as error:  # e.g. the database is gone: the claim lapses instead
            logger.warning("idempotency key %r not given back: %r", claim.key, error)

    async def _execute(
        self, request: Request, params: GraphQLParams, viewer: Viewer, media_type: str
    ) -> Outcome:
        state = request.scope.setdefault("state", {})
        document = await self._resolve_document(params, viewer)
        if isinstance(document, Outcome):
            state["error_codes"] = ["PERSISTED_QUERY_NOT_FOUND"]
            return document
        operation = _select_operation(document, params.operation_name, self.settings.max_tokens)
        if operation is not None:
            kind = operation.operation.value
            state["operation"] = operation.name.value if operation.name else f"anonymous {kind}"
            if request.method == "GET" and kind != "query":
                raise RequestError(
                    405, f"Send {kind}s with POST.", "METHOD_NOT_ALLOWED", {"Allow": "POST"}
                )
        context = Context(
            viewer=viewer,
            db=self.db,
            settings=self.settings,
            request_id=state.get("request_id") or uuid.uuid4().hex,
        )
        context.raw_json = True  # written by `_json`, which writes RawJson values as they are
        context.rate_limit = await rate_limit_for(request, viewer, self.settings, self.app_state)
        allowed = (
            {OperationType.QUERY}
            if request.method == "GET"
            else {OperationType.QUERY, OperationType.MUTATION}
        )
        # With read replicas, a query's reads may go to one (service_role's stay on the
        # primary); a mutation's, and a query's after it committed, stay on the primary.
        replica_reads = (
            operation is not None and operation.operation.value == "query" and not viewer.is_service
        )
        try:
            async with self.db.operation_scope(
                viewer.user_id, viewer.written_lsn, replica_reads=replica_reads
            ):
                result = await self.schema.execute(
                    document,
                    variable_values=params.variables,
                    context_value=context,
                    operation_name=params.operation_name,
                    allowed_operation_types=allowed,
                )
        except InvalidOperationTypeError as invalid:
            # GET mutations were refused above; this is a subscription, which HTTP does not serve.
            kind = invalid.operation_type.value
            raise RequestError(400, f"{kind.capitalize()} operations are not supported.") from None
        finally:
            context.close()
        state["executor"] = context.executor
        state["sql_json"] = context.sql_json_fields
        body: dict[str, Any] = {}
        status = 200
        errors = [_coded(error, context.request_id) for error in result.errors or []]
        if not introspection_allowed(context):
            for error in errors:
                error["message"] = _SUGGESTION.sub("", error["message"])
        request_error = (
            result.data is None
            and bool(result.errors)
            and all(not error.path for error in result.errors or [])
        )
        if not request_error:
            body["data"] = result.data
        elif media_type == GRAPHQL_RESPONSE:
            status = 400
        headers = None
        if errors:
            body["errors"] = errors
            codes = [e.get("extensions", {}).get("code") for e in errors]
            state["error_codes"] = codes
            if ServiceUnavailable.code in codes:
                # Retryable. A partial result (some data) stays 200, as the spec asks.
                headers = _RETRY_AFTER
                if media_type == GRAPHQL_RESPONSE and body.get("data") is None:
                    status = 503
        if context.rate_limit is not None and context.rate_limit.retry_after is not None:
            status, headers = 429, {"Retry-After": str(context.rate_limit.retry_after_seconds)}
        return Outcome(body, status, headers)

    # --- responses ----------------------------------------------------------------------

    def _unavailable(self, request: Request, outage: ServiceUnavailable) -> Response:
        """503 SERVICE_UNAVAILABLE with `Retry-After`, in either media type: the request
        could not run at all (the database did not answer, or its deadline passed)."""
        request.scope.setdefault("state", {})["error_codes"] = [outage.code]
        media_type = _accepted_media_type(request.headers.get("accept")) or JSON
        body = {"errors": [_error(outage.message, outage.code, retryable=True)]}
        return self._json(body, 503, media_type, _RETRY_AFTER)

    def _json(
        self,
        body: Any,
        status: int,
        media_type: str,
        headers: dict[str, str] | None = None,
    ) -> Response:
        try:
            content = orjson.dumps(body, default=_raw_json)
        except TypeError:
            # orjson refuses integers past 64 bits; a JSON column may hold one (written
            # before input checks refused them). The standard library writes them.
            content = json.dumps(
                body, ensure_ascii=False, separators=(",", ":"), default=_parsed_raw_json
            ).encode()
        return Response(
            content,
            status_code=status,
            media_type=f"{media_type}; charset=utf-8",
            headers=headers,
        )

    # --- GraphiQL -----------------------------------------------------------------------

    def _wants_graphiql(self, request: Request) -> bool:
        if request.method != "GET" or "query" in request.query_params:
            return False
        accept = request.headers.get("accept", "")
        return "text/html" in accept

    async def _graphiql(self, request: Request) -> Response:
        """The self-hosted GraphiQL page (schema.engine.graphiql). In production, admins only;
        an admin who came with the cookie gets the page with the token in the headers."""
        token = None
        if self.settings.is_production:
            header = request.headers.get("authorization")
            cookie = request.cookies.get(GRAPHIQL_COOKIE)
            if header is None and cookie:
                header = f"Bearer {cookie}"
                token = cookie.strip()
            try:
                viewer = await self._authenticate(header)
            except Unauthenticated:
                viewer = ANON
            if not (viewer.is_admin or viewer.is_service):
                return graphiql_forbidden()
        return graphiql_page(
            production=self.settings.is_production,
            token=token,
            root_path=request.scope.get("root_path", ""),
        )


def _raw_json(value: Any) -> Any:
    """A field's value that Postgres wrote as JSON (schema/engine/sql_json.py), as is."""
    if isinstance(value, RawJson):
        return orjson.Fragment(value.text)
    raise TypeError(type(value).__name__)


def _parsed_raw_json(value: Any) -> Any:
    if isinstance(value, RawJson):
        return json.loads(value.text)
    raise TypeError(type(value).__name__)
