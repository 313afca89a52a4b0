"""Rate limits at the `/graphql` endpoint: which bucket a request draws on and how many
tokens its operation takes. The buckets themselves (shared by every process through
Postgres, no SQL on the hot path) are `resolvers.core.rate_limits`.

- Signed-in viewers draw on a bucket of their own (the token's `sub`, which is the user
  id), whatever address they come from; anonymous requests on one per client address.
  `service_role` is exempt. The client address is the connection's peer; when the peer
  is one of `trusted_proxies`, `X-Forwarded-For` is read from the right, skipping the
  trusted proxies, and the first other address is the client.
- A query takes `1 + cost / rate_limit_cost_per_token` tokens, a mutation
  `rate_limit_mutation_tokens + cost / rate_limit_cost_per_token`, where `cost` is the
  operation's measured cost (`schema.engine.limits.RequestLimits` records it on the Context);
  an operation refused by the request limits takes only its base.
- Two steps: when the request arrives (`rate_limit_for`, in the endpoint) the process
  makes sure it has a recent view of the bucket, the only step that may wait for
  Postgres; after the measurement and before execution (`RateLimitCheck`, the extension
  right after `RequestLimits`) the tokens are taken on that view, in memory. A refused
  operation does not run, takes nothing, and is answered with HTTP 429, `Retry-After`
  (whole seconds, at least 1) and an error with code `RATE_LIMITED` (and `retryAfter`).
  Documents that do not parse or validate never reach execution and take nothing. In a
  batch, a refused operation gets its error in its own slot of the (HTTP 200) answer.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any

from graphql import GraphQLError
from starlette.requests import Request
from starlette.types import Scope
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from resolvers.core.context import Context
from resolvers.core.identity import Viewer
from resolvers.core.rate_limits import Budget, RateLimit, RateLimiter
from resolvers.core.settings import Settings

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def rate_limits_enabled(settings: Settings) -> bool:
    """`CAREGRAPH_RATE_LIMITS`; unset: on in production, off in development."""
    if settings.rate_limits is None:
        return settings.is_production
    return settings.rate_limits


def _address(text: str) -> IPAddress | None:
    """An address as `X-Forwarded-For` or a peer gives it: bare, `v4:port` or `[v6]:port`."""
    text = text.strip()
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _is_trusted(address: IPAddress | None, trusted: Sequence[IPNetwork]) -> bool:
    return address is not None and any(address in network for network in trusted)


def client_address(scope: Scope, trusted: Sequence[IPNetwork]) -> str:
    """The client's address: the peer, or, when the peer is a trusted proxy, the
    right-most `X-Forwarded-For` entry that is not a trusted proxy (entries further left
    are what the client claims, and anyone can claim anything)."""
    client = scope.get("client")
    peer = str(client[0]) if client else "unknown"
    if not trusted:
        return peer
    forwarded = ",".join(
        value.decode("latin-1")
        for name, value in scope.get("headers", ())
        if name == b"x-forwarded-for"
    )
    return _resolve(peer, forwarded, tuple(trusted))


@lru_cache(maxsize=4096)
def _resolve(peer: str, forwarded: str, trusted: tuple[IPNetwork, ...]) -> str:
    """`client_address` for one peer and `X-Forwarded-For` (kept: parsing addresses is
    most of its cost, and clients come back)."""
    if not _is_trusted(_address(peer), trusted):
        return peer
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            return hop[:64]
        if not _is_trusted(address, trusted):
            return str(address)
    return hops[0][:64] if hops else peer


async def rate_limit_for(
    request: Request, viewer: Viewer, settings: Settings, app_state: dict[str, Any]
) -> RateLimit | None:
    """The bucket this request draws on, prepared (the process has a recent view of it);
    None when the limits are off or the viewer is `service_role`. The process's limiter
    is kept in `app_state` (one per database)."""
    if viewer.is_service or not rate_limits_enabled(settings):
        return None
    db = app_state["db"]
    limiter = app_state.get("rate_limiter")
    if limiter is None or limiter.db is not db:
        limiter = RateLimiter(db, sync_seconds=settings.rate_limit_sync_seconds)
        app_state["rate_limiter"] = limiter
    if viewer.user_id is not None:
        budget = Budget(settings.rate_limit_viewer_burst, settings.rate_limit_viewer_per_second)
        limit = RateLimit(limiter, f"user:{viewer.user_id}", budget)
    else:
        address = client_address(request.scope, settings.trusted_proxies)
        budget = Budget(settings.rate_limit_anon_burst, settings.rate_limit_anon_per_second)
        limit = RateLimit(limiter, f"addr:{address}", budget)
    await limit.prepare()
    return limit


def operation_tokens(
    settings: Settings, operation_type: OperationType, cost: int | None, within_limits: bool
) -> float:
    """Tokens an operation takes: its base (a mutation's is larger) plus its measured cost
    scaled down, unless the request limits refused it (nothing will run)."""
    base = 1.0
    if operation_type == OperationType.MUTATION:
        base = settings.rate_limit_mutation_tokens
    if cost is None or not within_limits:
        return base
    return base + cost / settings.rate_limit_cost_per_token


class RateLimitCheck(SchemaExtension):
    """Takes the operation's tokens from the request's bucket (`Context.rate_limit`, set
    by the endpoint) after `RequestLimits` has measured it, before execution. A refusal
    replaces the result (nothing runs) and leaves `retry_after` on the request's
    `RateLimit`, which the endpoint turns into HTTP 429 and `Retry-After`."""

    def on_execute(self) -> Iterator[None]:
        execution = self.execution_context
        request = execution.context
        limit = request.rate_limit if isinstance(request, Context) else None
        if limit is not None:
            tokens = operation_tokens(
                request.settings,
                execution.operation_type,
                request.operation_cost,
                within_limits=execution.result is None,
            )
            if not limit.take(tokens):
                seconds = limit.retry_after_seconds
                execution.result = ExecutionResult(
                    data=None,
                    errors=[
                        GraphQLError(
                            f"Rate limit exceeded: retry in {seconds} s.",
                            extensions={"code": "RATE_LIMITED", "retryAfter": seconds},
                        )
                    ],
                )
        yield
