"""Outbound webhooks: a clinic plugs its SMS, e-mail or push provider into caregraph's
notifications. Admins configure endpoints (a URL and the notification kinds it wants);
every notification of such a kind, in the transaction that writes it, gets one delivery
row per active endpoint and a `webhook.deliver` job (none for a rolled-back write). The
job POSTs the event as JSON, signed with HMAC-SHA256 over the timestamp and the body
(`Caregraph-Signature: t=<unix seconds>,v1=<hex>`, Stripe's scheme), and retries with
backoff until the endpoint answers 2xx or `MAX_ATTEMPTS` are spent; the delivery log
records each outcome, and admins read it and replay deliveries. Delivery is at least once:
a worker that dies mid-request leaves the job to another, which sends it again (same
`Caregraph-Delivery` id), so receivers dedupe by that id."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import urllib.parse
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from sqlalchemy import String, Text, Uuid, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from models import Notification, WebhookDelivery, WebhookEndpoint
from models.enums import WebhookDeliveryStatus
from models.notification import NOTIFICATION_KINDS
from models.webhook_delivery import MAX_ERROR_LENGTH
from models.webhook_endpoint import MAX_DESCRIPTION_LENGTH, MAX_URL_LENGTH
from resolvers import audit
from resolvers.core.context import Context
from resolvers.core.database import run_in
from resolvers.core.errors import FieldErrors, NotFound, ValidationFailed
from resolvers.core.global_ids import global_id
from resolvers.core.identity import Viewer
from resolvers.core.jobs import JobContext, enqueue_many, job, retry_delay, utc_now
from resolvers.core.loaders import RowByIdLoader
from resolvers.core.pagination import Page, SortKey, page_size, paginate
from resolvers.core.settings import Settings
from resolvers.policies import require, visible
from resolvers.policies.webhooks import webhook_endpoint_policy

DELIVER = "webhook.deliver"
MAX_ATTEMPTS = 12
"""Requests per delivery before it is kept as failed: with the default retry delay (5 s,
doubling, at most 30 minutes) the last one goes out about 1 h 45 min after the first."""
TIMEOUT_SECONDS = 10.0
"""Longest wait for an endpoint to connect, and for each read or write."""
TOTAL_SECONDS = 30.0
"""Longest time one request may take in all (a receiver that trickles its answer)."""

SIGNATURE_HEADER = "Caregraph-Signature"
EVENT_HEADER = "Caregraph-Event"
DELIVERY_HEADER = "Caregraph-Delivery"
USER_AGENT = "caregraph-webhooks/1"

_ENDPOINT_FIELDS = ("url", "kinds", "active", "description")


# --- signing -------------------------------------------------------------------------


def new_secret() -> str:
    """A signing secret: 32 random bytes, url-safe base64 (43 characters)."""
    return secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 with `secret` over `<timestamp>.<body>`."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """The value of `Caregraph-Signature`: `t=<unix seconds>,v1=<hex signature>`."""
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


# --- enqueueing, in the notification's transaction -----------------------------------


def event_payload(notification: Notification) -> dict[str, Any]:
    """The JSON body of a notification's event (ids are the API's global ids)."""
    return {
        "id": global_id("Notification", notification.id),
        "kind": notification.kind,
        "createdAt": notification.created_at.isoformat(),
        "recipient": global_id("User", notification.user_id),
        "subject": {
            "type": notification.subject_type,
            "id": global_id(notification.subject_type, notification.subject_id),
        },
        "actorRole": notification.actor_role,
        "data": notification.data,
    }


# A delivery per active endpoint subscribed to the kind (built once, run prepared).
_DELIVERIES = (
    insert(WebhookDelivery)
    .from_select(
        ["id", "endpoint_id", "event_kind", "event_id", "payload"],
        select(
            func.gen_random_uuid(),
            WebhookEndpoint.id,
            bindparam("kind", type_=String()),
            bindparam("event_id", type_=Uuid()),
            bindparam("payload", type_=JSONB()),
        ).where(
            WebhookEndpoint.active,
            WebhookEndpoint.kinds.contains(bindparam("kinds", type_=ARRAY(Text()))),
        ),
    )
    .on_conflict_do_nothing(index_elements=["endpoint_id", "event_id"])
    .returning(WebhookDelivery.id.label("id"))
)


async def on_notification(session: AsyncSession, notification: Notification) -> None:
    """For each active endpoint subscribed to `notification.kind`: a delivery row and its
    job, in `session`'s transaction (so none when it rolls back). Call it after the
    notification is flushed (it needs its id and `created_at`)."""
    # One statement whatever the number of endpoints (none, usually); an event that
    # already has its delivery at an endpoint gets no second one there.
    rows = await run_in(
        session,
        _DELIVERIES,
        {
            "kind": notification.kind,
            "event_id": notification.id,
            "payload": event_payload(notification),
            "kinds": [notification.kind],
        },
    )
    delivery_ids = [row.id for row in rows]
    await _enqueue_deliveries(session, list(delivery_ids))


async def _enqueue_deliveries(session: AsyncSession, delivery_ids: list[uuid.UUID]) -> None:
    await enqueue_many(
        session,
        DELIVER,
        [{"deliveryId": str(delivery_id)} for delivery_id in delivery_ids],
        [f"webhook:{delivery_id}" for delivery_id in delivery_ids],
    )


# --- the delivery job ----------------------------------------------------------------


class WebhookNotDelivered(Exception):
    """An attempt failed (not 2xx, or no answer); pgqueuer runs the job again later."""


@dataclass(frozen=True)
class _Attempt:
    url: str
    secret: str
    kind: str
    body: bytes


def _excerpt(text: str) -> str:
    return text if len(text) <= MAX_ERROR_LENGTH else text[: MAX_ERROR_LENGTH - 3] + "..."


async def _post(url: str, headers: dict[str, str], body: bytes) -> tuple[int | None, str | None]:
    """POSTs `body`; (status code, None) on 2xx, else (status code or None, what failed).
    Redirects are not followed: a 3xx is a failure."""
    try:
        async with (
            asyncio.timeout(TOTAL_SECONDS),
            httpx.AsyncClient(timeout=TIMEOUT_SECONDS, follow_redirects=False) as http,
            http.stream("POST", url, content=body, headers=headers) as response,
        ):
            status = response.status_code
            if 200 <= status < 300:
                return status, None
            answer = b""
            async for chunk in response.aiter_bytes():
                answer += chunk
                if len(answer) >= 200:
                    break
            text = answer[:200].decode(errors="replace")
            return status, _excerpt(f"HTTP {status}: {text}".rstrip(": "))
    except TimeoutError:
        return None, f"no complete answer within {TOTAL_SECONDS:g} s"
    except httpx.HTTPError as error:
        return None, _excerpt(f"{type(error).__name__}: {error}")


async def _start_attempt(jobs: JobContext, delivery_id: uuid.UUID) -> _Attempt | None:
    """Re-checks the delivery and its endpoint, and counts the attempt (committed before
    the request, so one cut off by a dying worker still shows). None: nothing to send."""
    async with jobs.db.transaction() as session:
        row = (
            await session.execute(
                select(WebhookDelivery, WebhookEndpoint)
                .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                .where(WebhookDelivery.id == delivery_id)
                .with_for_update(of=WebhookDelivery)
            )
        ).one_or_none()
        if row is None:  # the endpoint was deleted, with its deliveries
            return None
        delivery, endpoint = row
        if delivery.status != WebhookDeliveryStatus.PENDING:
            return None
        if not endpoint.active:
            delivery.status = WebhookDeliveryStatus.SKIPPED
            delivery.last_error = "The endpoint was inactive when the delivery came due."
            delivery.next_attempt_at = None
            return None
        delivery.attempts += 1
        delivery.last_attempt_at = jobs.now()
        return _Attempt(
            endpoint.url, endpoint.secret, delivery.event_kind, orjson.dumps(delivery.payload)
        )


async def _record(
    jobs: JobContext,
    delivery_id: uuid.UUID,
    status_code: int | None,
    error: str | None,
    *,
    last: bool,
) -> None:
    now = jobs.now()
    async with jobs.db.transaction() as session:
        delivery = (
            await session.scalars(
                select(WebhookDelivery).where(WebhookDelivery.id == delivery_id).with_for_update()
            )
        ).one_or_none()
        if delivery is None or delivery.status != WebhookDeliveryStatus.PENDING:
            return
        delivery.last_status_code = status_code
        delivery.last_error = error
        if error is None:
            delivery.status = WebhookDeliveryStatus.DELIVERED
            delivery.delivered_at = now
            delivery.next_attempt_at = None
        elif last:
            delivery.status = WebhookDeliveryStatus.FAILED
            delivery.next_attempt_at = None
        else:
            delivery.next_attempt_at = now + retry_delay(jobs.settings, jobs.attempt)


@job(DELIVER, max_attempts=MAX_ATTEMPTS)
async def deliver_job(jobs: JobContext, payload: dict[str, Any]) -> None:
    """Sends a delivery, if it is still pending and its endpoint still active. A failed
    attempt raises (pgqueuer retries it with backoff), except the last, which marks the
    delivery failed for an admin to replay."""
    delivery_id = uuid.UUID(payload["deliveryId"])
    attempt = await _start_attempt(jobs, delivery_id)
    if attempt is None:
        return
    timestamp = int(jobs.now().timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_HEADER: attempt.kind,
        DELIVERY_HEADER: global_id("WebhookDelivery", delivery_id),
        SIGNATURE_HEADER: signature_header(attempt.secret, timestamp, attempt.body),
    }
    status_code, error = await _post(attempt.url, headers, attempt.body)
    last = jobs.attempt >= MAX_ATTEMPTS - 1
    await _record(jobs, delivery_id, status_code, error, last=last)
    if error is not None and not last:
        raise WebhookNotDelivered(error)


# --- admin: endpoints ----------------------------------------------------------------


def _require_manager(ctx: Context) -> None:
    require(webhook_endpoint_policy.can_manage(ctx.viewer), "Only admins manage webhooks.")


def url_problem(url: str, settings: Settings) -> str | None:
    """What is wrong with an endpoint URL, or None: https:// (http:// in development
    only), a host, no credentials, no spaces, at most `MAX_URL_LENGTH` characters."""
    if len(url) > MAX_URL_LENGTH:
        return f"at most {MAX_URL_LENGTH} characters"
    if any(character.isspace() or ord(character) < 32 for character in url):
        return "must not contain spaces or control characters"
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 (raises ValueError for a bad port)
    except ValueError:
        return "is not a valid URL"
    allowed = ("https", "http") if settings.env == "development" else ("https",)
    if parts.scheme not in allowed:
        return "must start with https://"
    if not host:
        return "must name a host"
    if parts.username is not None or parts.password is not None:
        return "must not carry a user name or password"
    return None


def _check_kinds(errors: FieldErrors, kinds: list[str]) -> list[str]:
    unknown = [kind for kind in kinds if kind not in NOTIFICATION_KINDS]
    errors.check(bool(kinds), "kinds", "give at least one kind")
    errors.check(not unknown, "kinds", f"unknown kinds: {', '.join(map(repr, unknown))}")
    return list(dict.fromkeys(kinds))


def _check_description(errors: FieldErrors, description: str) -> str:
    description = description.strip()
    errors.check(
        len(description) <= MAX_DESCRIPTION_LENGTH,
        "description",
        f"at most {MAX_DESCRIPTION_LENGTH} characters",
    )
    return description


@dataclass(frozen=True)
class EndpointSpec:
    url: str
    kinds: list[str]
    description: str = ""


@dataclass(frozen=True)
class EndpointWithSecret:
    """An endpoint and its secret: only what creating or rotating returns."""

    endpoint: WebhookEndpoint
    secret: str


async def create_endpoint(ctx: Context, spec: EndpointSpec) -> EndpointWithSecret:
    """Admins: a new endpoint (active), with a new secret that is shown this once."""
    _require_manager(ctx)
    errors = FieldErrors()
    url = spec.url.strip()
    problem = url_problem(url, ctx.settings)
    if problem is not None:
        errors.add("url", problem)
    kinds = _check_kinds(errors, spec.kinds)
    description = _check_description(errors, spec.description)
    errors.raise_if_any()
    async with ctx.db.transaction() as session:
        endpoint = WebhookEndpoint(
            url=url,
            kinds=kinds,
            description=description,
            secret=new_secret(),
            active=True,
            created_by=ctx.viewer.user_id,
        )
        session.add(endpoint)
        await session.flush()
        audit.record(
            session,
            ctx,
            "webhook_endpoint.create",
            "WebhookEndpoint",
            endpoint.id,
            after=audit.snapshot(endpoint, *_ENDPOINT_FIELDS),
        )
    return EndpointWithSecret(endpoint, endpoint.secret)


@dataclass(frozen=True)
class EndpointChanges:
    url: str | None = None
    kinds: list[str] | None = None
    active: bool | None = None
    description: str | None = None


async def _locked_endpoint(
    ctx: Context, session: AsyncSession, endpoint_id: uuid.UUID
) -> WebhookEndpoint:
    endpoint = (
        await session.scalars(
            visible(WebhookEndpoint, ctx.viewer)
            .where(WebhookEndpoint.id == endpoint_id)
            .with_for_update()
        )
    ).one_or_none()
    if endpoint is None:
        raise NotFound("Webhook endpoint not found.")
    return endpoint


async def update_endpoint(
    ctx: Context, endpoint_id: uuid.UUID, changes: EndpointChanges
) -> WebhookEndpoint:
    """Admins: change an endpoint's URL, kinds, description or whether it is active.
    Deliveries already queued go to the URL it has when they are sent; while inactive, they
    are skipped (replay them once it is active again)."""
    _require_manager(ctx)
    errors = FieldErrors()
    values_: dict[str, Any] = {}
    if changes.url is not None:
        url = changes.url.strip()
        problem = url_problem(url, ctx.settings)
        if problem is not None:
            errors.add("url", problem)
        values_["url"] = url
    if changes.kinds is not None:
        values_["kinds"] = _check_kinds(errors, changes.kinds)
    if changes.description is not None:
        values_["description"] = _check_description(errors, changes.description)
    if changes.active is not None:
        values_["active"] = changes.active
    errors.raise_if_any()
    async with ctx.db.transaction() as session:
        endpoint = await _locked_endpoint(ctx, session, endpoint_id)
        before = audit.snapshot(endpoint, *values_)
        for name, value in values_.items():
            setattr(endpoint, name, value)
        await session.flush()
        audit.record(
            session,
            ctx,
            "webhook_endpoint.update",
            "WebhookEndpoint",
            endpoint.id,
            before=before,
            after=audit.snapshot(endpoint, *values_),
        )
    ctx.loaders.get(WebhookEndpointByIdLoader).clear(endpoint_id)
    return endpoint


async def rotate_secret(ctx: Context, endpoint_id: uuid.UUID) -> EndpointWithSecret:
    """Admins: a new secret for an endpoint, shown this once; the old one stops at once
    (deliveries are signed when they are sent)."""
    _require_manager(ctx)
    async with ctx.db.transaction() as session:
        endpoint = await _locked_endpoint(ctx, session, endpoint_id)
        endpoint.secret = new_secret()
        await session.flush()
        audit.record(
            session,
            ctx,
            "webhook_endpoint.rotate_secret",
            "WebhookEndpoint",
            endpoint.id,
            after={"secret": endpoint.secret},  # recorded as "[redacted]"
        )
    return EndpointWithSecret(endpoint, endpoint.secret)


async def delete_endpoint(ctx: Context, endpoint_id: uuid.UUID) -> uuid.UUID:
    """Admins: deletes an endpoint with its delivery log; its queued jobs send nothing."""
    _require_manager(ctx)
    async with ctx.db.transaction() as session:
        endpoint = await _locked_endpoint(ctx, session, endpoint_id)
        audit.record(
            session,
            ctx,
            "webhook_endpoint.delete",
            "WebhookEndpoint",
            endpoint.id,
            before=audit.snapshot(endpoint, *_ENDPOINT_FIELDS),
        )
        await session.delete(endpoint)
    ctx.loaders.get(WebhookEndpointByIdLoader).clear(endpoint_id)
    return endpoint_id


async def list_endpoints(
    ctx: Context, *, first: int | None, after: str | None
) -> Page[WebhookEndpoint]:
    """Admins: the endpoints, newest first. Others get FORBIDDEN."""
    _require_manager(ctx)
    limit = page_size(
        first, default=ctx.settings.default_page_size, maximum=ctx.settings.max_page_size
    )
    return await paginate(
        ctx.db,
        ctx.viewer,
        "webhook_endpoints",
        WebhookEndpoint,
        lambda viewer: visible(WebhookEndpoint, viewer),
        SortKey((WebhookEndpoint.created_at, WebhookEndpoint.id), descending=True),  # type: ignore[arg-type]
        lambda endpoint: (endpoint.created_at, endpoint.id),
        first=limit,
        after=after,
    )


# --- admin: the delivery log ---------------------------------------------------------


@dataclass(frozen=True)
class DeliveryFilter:
    endpoint_id: uuid.UUID | None = None
    status: str | None = None


async def list_deliveries(
    ctx: Context, conditions: DeliveryFilter, *, first: int | None, after: str | None
) -> Page[WebhookDelivery]:
    """Admins: the delivery log, newest first, of one endpoint and/or one status."""
    _require_manager(ctx)
    limit = page_size(
        first, default=ctx.settings.default_page_size, maximum=ctx.settings.max_page_size
    )
    bound: dict[str, Any] = {}
    if conditions.endpoint_id is not None:
        bound["endpoint_id"] = conditions.endpoint_id
    if conditions.status is not None:
        bound["status"] = conditions.status

    def build(viewer: Viewer) -> Any:
        rows = visible(WebhookDelivery, viewer)
        if "endpoint_id" in bound:
            rows = rows.where(WebhookDelivery.endpoint_id == bindparam("endpoint_id"))
        if "status" in bound:
            rows = rows.where(WebhookDelivery.status == bindparam("status"))
        return rows

    return await paginate(
        ctx.db,
        ctx.viewer,
        ("webhook_deliveries", *sorted(bound)),
        WebhookDelivery,
        build,
        SortKey((WebhookDelivery.created_at, WebhookDelivery.id), descending=True),  # type: ignore[arg-type]
        lambda delivery: (delivery.created_at, delivery.id),
        first=limit,
        after=after,
        values=bound,
    )


async def replay_delivery(ctx: Context, delivery_id: uuid.UUID) -> WebhookDelivery:
    """Admins: sends a delivery again (any status; the same delivery id, body and a fresh
    signature), with a full set of attempts. Refused while its endpoint is inactive."""
    _require_manager(ctx)
    async with ctx.db.transaction() as session:
        delivery = (
            await session.scalars(
                visible(WebhookDelivery, ctx.viewer)
                .where(WebhookDelivery.id == delivery_id)
                .with_for_update()
            )
        ).one_or_none()
        if delivery is None:
            raise NotFound("Webhook delivery not found.")
        active = await session.scalar(
            select(WebhookEndpoint.active).where(WebhookEndpoint.id == delivery.endpoint_id)
        )
        if not active:
            raise ValidationFailed.single("id", "its endpoint is inactive; activate it first")
        before = audit.snapshot(delivery, "status", "attempts")
        delivery.status = WebhookDeliveryStatus.PENDING
        delivery.delivered_at = None
        delivery.next_attempt_at = utc_now()
        await session.flush()
        await _enqueue_deliveries(session, [delivery.id])
        audit.record(
            session,
            ctx,
            "webhook_delivery.replay",
            "WebhookDelivery",
            delivery.id,
            before=before,
            after=audit.snapshot(delivery, "status"),
        )
    ctx.loaders.get(WebhookDeliveryByIdLoader).clear(delivery_id)
    return delivery


class WebhookEndpointByIdLoader(RowByIdLoader):
    model = WebhookEndpoint


class WebhookDeliveryByIdLoader(RowByIdLoader):
    model = WebhookDelivery
