"""A fake Stripe API for the tests: a real HTTP server on 127.0.0.1 that speaks the subset of
Stripe's v1 API caregraph uses, as the official `stripe` package sends it and reads it back.

    async with fake_stripe() as fake:
        client = stripe.StripeClient(
            "sk_test_x", base_addresses={"api": fake.url},
            http_client=stripe.HTTPXClient(), max_network_retries=0,
        )
        intent = await client.v1.payment_intents.create_async(
            {"amount": 4500, "currency": "usd", "metadata": {"appointment_id": "a1"}},
            options={"idempotency_key": "appointment-a1"},
        )
        event = fake.succeed(intent.id)  # what Stripe would post to the webhook endpoint
        body, headers = signed_event(event, "whsec_test")

What it serves (form-encoded bodies with nested keys such as `metadata[appointment_id]`,
JSON answers in Stripe's shapes):

- POST /v1/payment_intents, GET /v1/payment_intents/{id}, POST /v1/payment_intents/{id}/cancel
- POST /v1/refunds, GET /v1/refunds/{id}

As Stripe does: `Authorization: Bearer <key>` is required (any key starting with `sk_test_`,
else 401); unknown ids are 404 `resource_missing`; unknown parameters are 400
`parameter_unknown`; errors are `{"error": {"type", "message", "param", "code"}}`, which
stripe-python turns into its typed errors. Idempotency: a POST whose `Idempotency-Key` was
seen before with the same endpoint and parameters replays the first answer (status and body,
with `Idempotent-Replayed: true`) and changes nothing; with other parameters or another
endpoint it is a 400 `idempotency_error` (stripe.IdempotencyError). As Stripe saves a result
only once an endpoint has begun executing, requests refused by parameter validation or by
authentication are not saved; successes and the refusals of the endpoint's own rules (an
intent that cannot be canceled, a refund too large...) are. Keys are scoped to the API key,
as Stripe scopes them to the account. stripe-python puts a random `Idempotency-Key` on every
POST that has none, so calls without one never replay each other.

The state is plain dicts (`intents`, `refunds`) of the JSON objects the API returns; the test
controls (`succeed`, `fail`, `refund_event`, `fail_next`) play what Stripe does on its own
side (a customer pays, a card is declined, the webhook for a refund) and return the Event a
webhook endpoint would receive. Post it to our endpoint with `signed_event`.

Refund events: for a refund made through the API on a card payment Stripe sends both
`refund.created` (data.object: the Refund) and `charge.refunded` (data.object: the Charge,
with `amount_refunded` and `refunded`). `refund_event` returns `refund.created` by default,
since its object is the refund caregraph created (its id, amount, payment_intent, metadata,
status); `type="charge.refunded"` or `type="refund.updated"` give the others.

The server runs in a thread of its own (uvicorn, own event loop), so it answers both the
async and the sync calls of the stripe client, whatever the test's event loop is doing (sync
calls need `stripe.HTTPXClient(allow_sync_methods=True)`).

Note: stripe-python's HTTPXClient posts its body as `data=<str>`, which httpx answers with a
DeprecationWarning ("Use 'content=<...>'"); were that warning turned into an error, stripe
would report it as a network error (APIConnectionError). test_fake_stripe.py ignores it.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import re
import secrets
import socket
import string
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

import stripe
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import Response
from starlette.routing import Route

API_KEY_PREFIX = "sk_test_"
DEFAULT_API_VERSION: str = stripe.api_version
"""The version stripe-python pins (it sends it as `Stripe-Version`); events carry it."""

CREATE_INTENT_PARAMS = frozenset(
    {
        "amount",
        "currency",
        "metadata",
        "automatic_payment_methods",
        "description",
        "receipt_email",
        "statement_descriptor_suffix",
        "expand",
    }
)
CANCEL_INTENT_PARAMS = frozenset({"cancellation_reason", "expand"})
RETRIEVE_PARAMS = frozenset({"client_secret", "expand"})
CREATE_REFUND_PARAMS = frozenset(
    {"payment_intent", "charge", "amount", "reason", "metadata", "expand"}
)
"""Parameters each endpoint accepts; anything else is refused as Stripe refuses it
(`parameter_unknown`). Extend these if caregraph starts sending more."""

CANCELLATION_REASONS = frozenset({"duplicate", "fraudulent", "requested_by_customer", "abandoned"})
REFUND_REASONS = frozenset({"duplicate", "fraudulent", "requested_by_customer"})
CANCELABLE = frozenset(
    {
        "requires_payment_method",
        "requires_capture",
        "requires_confirmation",
        "requires_action",
        "processing",
    }
)
MINIMUM_AMOUNTS = {"usd": 50, "eur": 50, "gbp": 30, "cad": 50, "aud": 50, "chf": 50}
"""Stripe's minimum charge amounts for a few currencies (`amount_too_small` below them)."""
MAXIMUM_AMOUNT = 99_999_999


def _random_id(prefix: str, length: int = 24) -> str:
    alphabet = string.ascii_letters + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


class StripeFailure(Exception):
    """An error answer in Stripe's format; `saved` when an idempotent replay repeats it."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        saved: bool = False,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.saved = saved
        self.error: dict[str, Any] = {"type": type, "message": message, **extra}
        if code is not None:
            self.error["code"] = code
        if param is not None:
            self.error["param"] = param


def _invalid(message: str, *, code: str | None = None, param: str | None = None) -> StripeFailure:
    """A parameter refused before the endpoint runs (not saved for idempotent replays)."""
    return StripeFailure(400, message, code=code, param=param)


def _refused(message: str, *, code: str | None = None, param: str | None = None) -> StripeFailure:
    """A request the endpoint's own rules refuse (saved for idempotent replays)."""
    return StripeFailure(400, message, code=code, param=param, saved=True)


def _missing(kind: str, object_id: str, param: str) -> StripeFailure:
    return StripeFailure(
        404, f"No such {kind}: '{object_id}'", code="resource_missing", param=param, saved=True
    )


def parse_params(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding back into nested values: `metadata[a]=1` is `{"metadata": {"a":
    "1"}}`, `expand[0]=x` (or `expand[]=x`) is `{"expand": ["x"]}`. Values stay strings."""
    root: dict[str, Any] = {}
    for raw_key, value in pairs:
        match = re.fullmatch(r"([^\[\]]+)((?:\[[^\[\]]*\])*)", raw_key)
        if match is None:
            raise _invalid(f"Invalid parameter name: {raw_key}", code="parameter_unknown")
        keys = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        node = root
        for index, key in enumerate(keys):
            last = index == len(keys) - 1
            if key == "":  # `a[]`: the next index
                key = str(sum(1 for k in node if k.isdigit()))
            if last:
                if isinstance(node.get(key), dict):
                    raise _invalid(f"Invalid value for {raw_key}", param=keys[0])
                node[key] = value
            else:
                child = node.setdefault(key, {})
                if not isinstance(child, dict):
                    raise _invalid(f"Invalid value for {raw_key}", param=keys[0])
                node = child
    return _lists(root)


def _lists(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    converted = {key: _lists(item) for key, item in value.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


def _integer(params: Mapping[str, Any], name: str) -> int | None:
    if name not in params:
        return None
    raw = params[name]
    if not isinstance(raw, str) or not re.fullmatch(r"-?\d+", raw):
        raise _invalid(f"Invalid integer: {raw}", code="parameter_invalid_integer", param=name)
    return int(raw)


def _string(params: Mapping[str, Any], name: str) -> str | None:
    raw = params.get(name)
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise _invalid(f"Invalid string: {raw!r}", code="parameter_invalid_string", param=name)
    return raw


def _boolean(raw: Any, name: str) -> bool:
    if raw in ("true", "false"):
        return bool(raw == "true")
    raise _invalid(f"Invalid boolean: {raw}", param=name)


def _metadata(params: Mapping[str, Any]) -> dict[str, str]:
    raw = params.get("metadata")
    if raw is None or raw == "":
        return {}
    if not isinstance(raw, dict):
        raise _invalid("Invalid object", code="parameter_invalid_object", param="metadata")
    if len(raw) > 50:
        raise _invalid("Metadata can have at most 50 keys.", param="metadata")
    for key, value in raw.items():
        if not isinstance(value, str):
            raise _invalid("Invalid string", param=f"metadata[{key}]")
        if len(key) > 40:
            raise _invalid(
                "Metadata keys can be at most 40 characters long.", param=f"metadata[{key}]"
            )
        if len(value) > 500:
            raise _invalid(
                "Metadata values can be at most 500 characters long.", param=f"metadata[{key}]"
            )
    return {key: value for key, value in raw.items() if value != ""}


def _unknown(params: Mapping[str, Any], allowed: frozenset[str]) -> None:
    for name in params:
        if name not in allowed:
            raise _invalid(
                f"Received unknown parameter: {name}", code="parameter_unknown", param=name
            )


@dataclass
class LoggedRequest:
    """One request the fake received, as it understood it."""

    method: str
    path: str
    params: dict[str, Any]
    """The form body (POST) or query string (GET), parsed into nested values (strings)."""
    idempotency_key: str | None
    headers: dict[str, str]
    """Lower-cased names."""
    status: int = 0
    """The status it answered."""
    replayed: bool = False
    """Answered from the idempotency store, changing nothing."""
    request_id: str = field(default_factory=lambda: _random_id("req_", 14))
    """The `Request-Id` it answered with."""

    @property
    def stripe_version(self) -> str | None:
        return self.headers.get("stripe-version")


@dataclass
class _Saved:
    method: str
    path: str
    params: dict[str, Any]
    status: int
    body: bytes
    request_id: str


@dataclass
class _Injected:
    status: int
    error: dict[str, Any]
    saved: bool


@dataclass
class FakeStripe:
    """The fake's state and test controls; `url` is set while it runs (see `fake_stripe`)."""

    api_version: str = DEFAULT_API_VERSION
    url: str = ""
    requests: list[LoggedRequest] = field(default_factory=list)
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    """Every event the controls returned, in order."""
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _saved: dict[tuple[str, str], _Saved] = field(default_factory=dict, repr=False)
    _failures: deque[_Injected] = field(default_factory=deque, repr=False)
    _origin: dict[str, dict[str, str | None]] = field(default_factory=dict, repr=False)
    _server: uvicorn.Server | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    # ---- test controls -------------------------------------------------------------------

    def succeed(self, intent_id: str) -> dict[str, Any]:
        """The customer pays in full: status `succeeded`, `amount_received` = `amount`, a
        charge (`latest_charge`). Returns the `payment_intent.succeeded` event."""
        with self._lock:
            intent = self._intent(intent_id)
            if intent["status"] in ("succeeded", "canceled"):
                raise ValueError(f"{intent_id} is {intent['status']}: it cannot succeed")
            intent.update(
                status="succeeded",
                amount_received=intent["amount"],
                amount_capturable=0,
                latest_charge=_random_id("ch_"),
                payment_method=_random_id("pm_"),
                last_payment_error=None,
                next_action=None,
            )
            return self._event("payment_intent.succeeded", intent)

    def fail(
        self,
        intent_id: str,
        message: str = "Your card was declined.",
        *,
        code: str = "card_declined",
        decline_code: str | None = "generic_decline",
    ) -> dict[str, Any]:
        """A payment attempt fails: the intent goes back to `requires_payment_method` with a
        `last_payment_error`. Returns the `payment_intent.payment_failed` event."""
        with self._lock:
            intent = self._intent(intent_id)
            if intent["status"] in ("succeeded", "canceled"):
                raise ValueError(f"{intent_id} is {intent['status']}: it cannot fail")
            error: dict[str, Any] = {
                "type": "card_error",
                "code": code,
                "message": message,
                "payment_method": {"id": _random_id("pm_"), "object": "payment_method"},
            }
            if decline_code is not None:
                error["decline_code"] = decline_code
            intent.update(
                status="requires_payment_method",
                last_payment_error=error,
                payment_method=None,
            )
            return self._event("payment_intent.payment_failed", intent)

    def refund_event(self, refund_id: str, type: str = "refund.created") -> dict[str, Any]:
        """The event Stripe sends for a refund made through the API. `refund.created` (the
        default; data.object is the Refund: id, amount, payment_intent, status, metadata),
        `refund.updated` (the same object), or `charge.refunded` (data.object is the Charge:
        amount, amount_refunded, refunded, payment_intent). Stripe sends both `refund.created`
        and `charge.refunded` for a card refund."""
        with self._lock:
            refund = self.refunds.get(refund_id)
            if refund is None:
                raise KeyError(f"no refund {refund_id}")
            origin = self._origin.get(refund_id)
            if type in ("refund.created", "refund.updated"):
                return self._event(type, refund, request=origin)
            if type == "charge.refunded":
                return self._event(type, self._charge(refund["payment_intent"]), request=origin)
            raise ValueError(f"unsupported refund event type {type!r}")

    def fail_next(
        self, status: int = 500, error: Mapping[str, Any] | None = None, *, saved: bool = False
    ) -> None:
        """The next API call (whatever it is) fails with `status` and this `error` object,
        changing nothing. `error` defaults to Stripe's for the status (`api_error` for 5xx,
        `card_error`/`card_declined` for 402, `rate_limit` for 429...); keys given override
        those. Calls queue up: each one fails one more request. Not saved for idempotent
        replays (a retry with the same key runs) unless `saved`, as Stripe saves a 500 of an
        endpoint that had begun executing."""
        defaults: dict[int, dict[str, Any]] = {
            400: {"type": "invalid_request_error", "message": "Invalid request."},
            401: {"type": "invalid_request_error", "message": "Invalid API Key provided."},
            402: {
                "type": "card_error",
                "code": "card_declined",
                "decline_code": "generic_decline",
                "message": "Your card was declined.",
            },
            403: {"type": "invalid_request_error", "message": "Permission denied."},
            404: {
                "type": "invalid_request_error",
                "code": "resource_missing",
                "message": "No such object.",
            },
            429: {
                "type": "invalid_request_error",
                "code": "rate_limit",
                "message": "Too many requests hit the API too quickly.",
            },
        }
        base = defaults.get(
            status,
            {"type": "api_error", "message": "An unknown error occurred. Please try again."},
        )
        with self._lock:
            self._failures.append(_Injected(status, {**base, **(error or {})}, saved))

    def requests_to(self, method: str, path: str) -> list[LoggedRequest]:
        """The logged requests with this method and path (e.g. "POST", "/v1/refunds")."""
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path == path]

    # ---- server lifecycle ----------------------------------------------------------------

    def start(self) -> None:
        """Listen on a free port of 127.0.0.1 in a thread of its own; sets `url`."""
        if self._thread is not None:
            raise RuntimeError("already running")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app(),
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            loop="asyncio",
            http="h11",
            timeout_graceful_shutdown=2,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[sock])),
            name=f"fake-stripe-{port}",
            daemon=True,
        )
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                sock.close()
                raise RuntimeError("the fake Stripe server did not start")
            time.sleep(0.01)
        self._server, self._thread = server, thread
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(10)
        self._server = self._thread = None

    # ---- HTTP ----------------------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(
            routes=[Route("/{path:path}", self._handle, methods=["GET", "POST", "DELETE"])]
        )

    async def _handle(self, http: StarletteRequest) -> Response:
        body = await http.body()
        headers = {name.lower(): value for name, value in http.headers.items()}
        pairs = parse_qsl(http.url.query, keep_blank_values=True)
        if http.method == "POST":
            pairs += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        path = unquote(http.url.path)
        key = headers.get("idempotency-key") if http.method == "POST" else None
        logged = LoggedRequest(http.method, path, {}, key, headers)
        with self._lock:
            self.requests.append(logged)
            status, payload, extra = self._answer(logged, pairs)
            logged.status = status
        response_headers = {
            "Request-Id": logged.request_id,
            "Stripe-Version": headers.get("stripe-version", self.api_version),
            **extra,
        }
        if key is not None:
            response_headers["Idempotency-Key"] = key
        return Response(payload, status, response_headers, media_type="application/json")

    def _answer(
        self, logged: LoggedRequest, pairs: list[tuple[str, str]]
    ) -> tuple[int, bytes, dict[str, str]]:
        extra: dict[str, str] = {}
        try:
            self._authenticate(logged.headers.get("authorization"))
            logged.params = parse_params(pairs)
            key = logged.idempotency_key
            if key is not None and len(key) > 255:
                raise _invalid(
                    "Invalid Idempotency-Key: it must be at most 255 characters long.",
                    param="Idempotency-Key",
                )
            slot = (logged.headers["authorization"], key) if key else None
            saved = self._saved.get(slot) if slot else None
            if saved is not None:
                return self._replay(logged, saved, extra)
            try:
                if self._failures:
                    injected = self._failures.popleft()
                    raise StripeFailure(injected.status, saved=injected.saved, **injected.error)
                status, payload = 200, _json(self._route(logged))
            except StripeFailure as failure:
                if not failure.saved:
                    raise
                status, payload = failure.status, _json({"error": failure.error})
            if slot is not None:
                self._saved[slot] = _Saved(
                    logged.method, logged.path, logged.params, status, payload, logged.request_id
                )
            return status, payload, extra
        except StripeFailure as failure:
            return failure.status, _json({"error": failure.error}), extra

    def _replay(
        self, logged: LoggedRequest, saved: _Saved, extra: dict[str, str]
    ) -> tuple[int, bytes, dict[str, str]]:
        key = logged.idempotency_key
        if (saved.method, saved.path) != (logged.method, logged.path):
            raise StripeFailure(
                400,
                "Keys for idempotent requests can only be used for the same endpoint they were "
                f"first used for ('{saved.method} {saved.path}' vs "
                f"'{logged.method} {logged.path}'). Try using a key other than '{key}' if you "
                "meant to execute a different request.",
                type="idempotency_error",
            )
        if saved.params != logged.params:
            raise StripeFailure(
                400,
                "Keys for idempotent requests can only be used with the same parameters they "
                f"were first used with. Try using a key other than '{key}' if you meant to "
                "execute a different request.",
                type="idempotency_error",
            )
        logged.replayed = True
        extra.update({"Idempotent-Replayed": "true", "Original-Request": saved.request_id})
        return saved.status, saved.body, extra

    def _authenticate(self, authorization: str | None) -> None:
        if not authorization:
            raise StripeFailure(
                401,
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY').",
            )
        scheme, _, api_key = authorization.partition(" ")
        if scheme.lower() != "bearer" or not api_key.startswith(API_KEY_PREFIX):
            shown = api_key if len(api_key) <= 12 else f"{api_key[:8]}****{api_key[-4:]}"
            raise StripeFailure(401, f"Invalid API Key provided: {shown}")

    def _route(self, logged: LoggedRequest) -> dict[str, Any]:
        routes: list[tuple[str, str, Callable[..., dict[str, Any]]]] = [
            ("POST", r"/v1/payment_intents", self._create_intent),
            ("GET", r"/v1/payment_intents/([^/]+)", self._retrieve_intent),
            ("POST", r"/v1/payment_intents/([^/]+)/cancel", self._cancel_intent),
            ("POST", r"/v1/refunds", self._create_refund),
            ("GET", r"/v1/refunds/([^/]+)", self._retrieve_refund),
        ]
        for method, pattern, handler in routes:
            match = re.fullmatch(pattern, logged.path)
            if match and method == logged.method:
                return handler(logged, *match.groups())
        raise StripeFailure(
            404,
            f"Unrecognized request URL ({logged.method}: {logged.path}). Please see "
            "https://stripe.com/docs or we can help at https://support.stripe.com/.",
        )

    # ---- endpoints -----------------------------------------------------------------------

    def _create_intent(self, logged: LoggedRequest) -> dict[str, Any]:
        params = logged.params
        _unknown(params, CREATE_INTENT_PARAMS)
        amount = _integer(params, "amount")
        if amount is None:
            raise _invalid(
                "Missing required param: amount.", code="parameter_missing", param="amount"
            )
        currency = _string(params, "currency")
        if currency is None:
            raise _invalid(
                "Missing required param: currency.", code="parameter_missing", param="currency"
            )
        if not re.fullmatch(r"[a-zA-Z]{3}", currency):
            raise _invalid(f"Invalid currency: {currency}.", param="currency")
        currency = currency.lower()
        if amount < 1:
            raise _invalid(
                "This value must be greater than or equal to 1.",
                code="parameter_invalid_integer",
                param="amount",
            )
        minimum = MINIMUM_AMOUNTS.get(currency, 1)
        if amount < minimum:
            raise _invalid(
                f"Amount must be at least {minimum / 100:.2f} {currency}",
                code="amount_too_small",
                param="amount",
            )
        if amount > MAXIMUM_AMOUNT:
            raise _invalid(
                f"Amount must be no more than {MAXIMUM_AMOUNT / 100:,.2f} {currency}",
                code="amount_too_large",
                param="amount",
            )
        automatic = params.get("automatic_payment_methods")
        enabled = True
        if automatic is not None:
            if not isinstance(automatic, dict) or "enabled" not in automatic:
                raise _invalid(
                    "Missing required param: automatic_payment_methods[enabled].",
                    code="parameter_missing",
                    param="automatic_payment_methods[enabled]",
                )
            enabled = _boolean(automatic["enabled"], "automatic_payment_methods[enabled]")
        intent_id = _random_id("pi_")
        intent: dict[str, Any] = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_received": 0,
            "application": None,
            "automatic_payment_methods": {"enabled": enabled},
            "canceled_at": None,
            "cancellation_reason": None,
            "capture_method": "automatic_async",
            "client_secret": f"{intent_id}_secret_{_random_id('', 25)}",
            "confirmation_method": "automatic",
            "created": int(time.time()),
            "currency": currency,
            "customer": None,
            "description": _string(params, "description"),
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": False,
            "metadata": _metadata(params),
            "next_action": None,
            "payment_method": None,
            "payment_method_types": ["card"],
            "receipt_email": _string(params, "receipt_email"),
            "statement_descriptor_suffix": _string(params, "statement_descriptor_suffix"),
            "status": "requires_payment_method",
        }
        self.intents[intent_id] = intent
        return copy.deepcopy(intent)

    def _retrieve_intent(self, logged: LoggedRequest, intent_id: str) -> dict[str, Any]:
        _unknown(logged.params, RETRIEVE_PARAMS)
        return copy.deepcopy(self._intent_or_404(intent_id))

    def _cancel_intent(self, logged: LoggedRequest, intent_id: str) -> dict[str, Any]:
        _unknown(logged.params, CANCEL_INTENT_PARAMS)
        reason = _string(logged.params, "cancellation_reason")
        if reason is not None and reason not in CANCELLATION_REASONS:
            raise _invalid(
                "Invalid cancellation_reason: must be one of "
                + ", ".join(sorted(CANCELLATION_REASONS)),
                param="cancellation_reason",
            )
        intent = self._intent_or_404(intent_id)
        if intent["status"] not in CANCELABLE:
            raise _refused(
                "You cannot cancel this PaymentIntent because it has a status of "
                f"{intent['status']}. Only a PaymentIntent with one of the following statuses "
                f"may be canceled: {', '.join(sorted(CANCELABLE))}.",
                code="payment_intent_unexpected_state",
            )
        intent.update(
            status="canceled",
            canceled_at=int(time.time()),
            cancellation_reason=reason,
            next_action=None,
        )
        return copy.deepcopy(intent)

    def _create_refund(self, logged: LoggedRequest) -> dict[str, Any]:
        params = logged.params
        _unknown(params, CREATE_REFUND_PARAMS)
        intent_id = _string(params, "payment_intent")
        charge_id = _string(params, "charge")
        amount = _integer(params, "amount")
        reason = _string(params, "reason")
        metadata = _metadata(params)
        if intent_id is None and charge_id is None:
            raise _invalid(
                "One of the following params should be provided for this request: "
                "payment_intent or charge.",
                code="parameter_missing",
                param="payment_intent",
            )
        if amount is not None and amount < 1:
            raise _invalid(
                "This value must be greater than or equal to 1.",
                code="parameter_invalid_integer",
                param="amount",
            )
        if reason is not None and reason not in REFUND_REASONS:
            raise _invalid(
                f"Invalid reason: must be one of {', '.join(sorted(REFUND_REASONS))}",
                param="reason",
            )
        if intent_id is not None:
            intent = self._intent_or_404(intent_id, param="payment_intent")
            if charge_id is not None and charge_id != intent["latest_charge"]:
                raise _refused(
                    f"The charge {charge_id} does not belong to the PaymentIntent {intent_id}.",
                    param="charge",
                )
        else:
            found = [i for i in self.intents.values() if i["latest_charge"] == charge_id]
            if not found:
                raise _missing("charge", str(charge_id), "charge")
            intent = found[0]
        if intent["status"] != "succeeded":
            raise _refused(
                f"This PaymentIntent ({intent['id']}) does not have a successful charge to refund.",
                code="payment_intent_unexpected_state",
                param="payment_intent",
            )
        left = intent["amount_received"] - self._refunded(intent["id"])
        if left <= 0:
            raise _refused(
                f"Charge {intent['latest_charge']} has already been refunded.",
                code="charge_already_refunded",
            )
        if amount is None:
            amount = left
        elif amount > left:
            raise _refused(
                f"Refund amount ({amount} {intent['currency']}) is greater than unrefunded "
                f"amount on charge ({left} {intent['currency']})",
                code="amount_too_large",
                param="amount",
            )
        refund_id = _random_id("re_")
        refund: dict[str, Any] = {
            "id": refund_id,
            "object": "refund",
            "amount": amount,
            "balance_transaction": _random_id("txn_"),
            "charge": intent["latest_charge"],
            "created": int(time.time()),
            "currency": intent["currency"],
            "destination_details": {"type": "card", "card": {"type": "refund"}},
            "metadata": metadata,
            "payment_intent": intent["id"],
            "reason": reason,
            "receipt_number": None,
            "source_transfer_reversal": None,
            "status": "succeeded",
            "transfer_reversal": None,
        }
        self.refunds[refund_id] = refund
        self._origin[refund_id] = {
            "id": logged.request_id,
            "idempotency_key": logged.idempotency_key,
        }
        return copy.deepcopy(refund)

    def _retrieve_refund(self, logged: LoggedRequest, refund_id: str) -> dict[str, Any]:
        _unknown(logged.params, RETRIEVE_PARAMS - {"client_secret"})
        refund = self.refunds.get(refund_id)
        if refund is None:
            raise _missing("refund", refund_id, "id")
        return copy.deepcopy(refund)

    # ---- helpers -------------------------------------------------------------------------

    def _intent(self, intent_id: str) -> dict[str, Any]:
        intent = self.intents.get(intent_id)
        if intent is None:
            raise KeyError(f"no payment intent {intent_id}")
        return intent

    def _intent_or_404(self, intent_id: str, param: str = "intent") -> dict[str, Any]:
        intent = self.intents.get(intent_id)
        if intent is None:
            raise _missing("payment_intent", intent_id, param)
        return intent

    def _refunded(self, intent_id: str) -> int:
        return sum(
            refund["amount"]
            for refund in self.refunds.values()
            if refund["payment_intent"] == intent_id and refund["status"] != "failed"
        )

    def _charge(self, intent_id: str) -> dict[str, Any]:
        intent = self._intent(intent_id)
        refunded = self._refunded(intent_id)
        return {
            "id": intent["latest_charge"],
            "object": "charge",
            "amount": intent["amount"],
            "amount_captured": intent["amount_received"],
            "amount_refunded": refunded,
            "captured": True,
            "created": intent["created"],
            "currency": intent["currency"],
            "livemode": False,
            "metadata": dict(intent["metadata"]),
            "paid": True,
            "payment_intent": intent_id,
            "payment_method": intent["payment_method"],
            "refunded": refunded >= intent["amount_received"],
            "status": "succeeded",
        }

    def _event(
        self,
        type: str,
        obj: Mapping[str, Any],
        request: Mapping[str, str | None] | None = None,
    ) -> dict[str, Any]:
        event: dict[str, Any] = {
            "id": _random_id("evt_"),
            "object": "event",
            "api_version": self.api_version,
            "created": int(time.time()),
            "data": {"object": copy.deepcopy(dict(obj))},
            "livemode": False,
            "pending_webhooks": 1,
            "request": dict(request) if request else {"id": None, "idempotency_key": None},
            "type": type,
        }
        self.events.append(event)
        return copy.deepcopy(event)


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=2).encode("utf-8")


@contextlib.asynccontextmanager
async def fake_stripe(api_version: str = DEFAULT_API_VERSION) -> AsyncIterator[FakeStripe]:
    """A fake Stripe listening on a free port of 127.0.0.1 (`fake.url`) until the block ends."""
    fake = FakeStripe(api_version=api_version)
    await asyncio.to_thread(fake.start)
    try:
        yield fake
    finally:
        await asyncio.to_thread(fake.stop)


# ---- webhooks ------------------------------------------------------------------------------


def event_payload(event: Mapping[str, Any]) -> bytes:
    """The exact bytes to post (and sign): JSON indented by 2, as Stripe sends events."""
    return json.dumps(event, indent=2).encode("utf-8")


def signature_header(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """`Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<payload>">`, computed by
    stripe-python's own code, so `stripe.Webhook.construct_event(payload, header, secret)`
    accepts it (when `timestamp` is recent: the default is now)."""
    header: str = stripe.WebhookSignature.generate_signature_header(
        payload.decode("utf-8"), secret, timestamp
    )
    return header


def signed_event(
    event: Mapping[str, Any], secret: str, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of Stripe's POST of `event` to a webhook endpoint with `secret`."""
    payload = event_payload(event)
    return payload, {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        "Stripe-Signature": signature_header(payload, secret, timestamp),
    }
