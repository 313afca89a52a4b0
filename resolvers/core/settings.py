"""Settings from the environment (and an optional `.env`), see `.env.example`."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, IPvAnyNetwork, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEV_JWT_SECRET = "caregraph-dev-secret-not-for-production-use-0123456789"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CAREGRAPH_", env_file=".env", extra="ignore", populate_by_name=True
    )

    env: Literal["development", "production"] = "development"
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "CAREGRAPH_DATABASE_URL")
    )
    # Behind PgBouncer / Supavisor transaction pooling (Supabase port 6543): no named
    # prepared statements (statement cache 0, unique statement names).
    db_pgbouncer: bool = False
    db_pool_size: int = 40
    db_max_overflow: int = 20
    data_dir: Path = Path(".data")
    # Streaming replicas of the database (comma-separated URLs): the reads of queries go
    # to one that is current enough (resolvers/core/replicas.py); empty: all on the primary.
    read_replica_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # A replica further behind the primary than this is skipped.
    replica_max_lag_seconds: float = Field(default=5, gt=0, le=3600)
    # How often each process polls every replica (and the primary's WAL position).
    replica_poll_seconds: float = Field(default=1, gt=0, le=60)

    jwt_secret: str | None = None
    jwt_audience: str | None = "authenticated"
    jwt_issuer: str | None = None
    jwks_file: Path | None = None
    jwks_url: str | None = None
    jwks_cache_seconds: int = 300

    # Request limits (all on by default).
    max_query_depth: int = 15
    max_aliases: int = 30
    max_tokens: int = 5000
    max_query_cost: int = 200_000
    # Field selections with every fragment spread expanded (`__typename` included).
    max_selections: int = 10_000
    # Request variables: how deep objects and lists nest, how many values in all.
    max_variable_depth: int = 32
    max_variable_values: int = 20_000
    default_page_size: int = 20
    max_page_size: int = 100
    max_body_bytes: int = 1_048_576

    # HTTP layer.
    cors_origins: list[str] = Field(default_factory=list)
    batching_enabled: bool = False
    max_batch_size: int = 10
    apq_enabled: bool = True
    # Only registered documents run (admins and service_role excepted).
    trusted_documents: bool = False
    log_requests: bool = True
    # Queries run on the compiled executor (schema/engine/execution.py); false: graphql-core's.
    compiled_execution: bool = True
    # Root fields whose whole selection has SQL sources are answered by Postgres as JSON
    # (schema/engine/sql_json.py); false: by the resolvers.
    sql_json_execution: bool = True
    # Deadline of a request; also Postgres' statement_timeout on the server's connections.
    request_timeout_seconds: float = Field(default=15.0, gt=0, le=600)
    # How long a mutation's Idempotency-Key (and the answer kept for it) lasts.
    idempotency_key_hours: int = Field(default=24, ge=1, le=24 * 30)

    # Realtime (GraphQL over WebSocket, graphql-transport-ws). The listener's own direct
    # connection (LISTEN needs a session: behind PgBouncer in transaction mode, point this
    # at Postgres itself); unset: the database URL.
    realtime_database_url: str | None = None
    ws_init_timeout_seconds: float = Field(default=10, gt=0, le=300)
    ws_ping_seconds: float = Field(default=20, gt=0, le=3600)
    ws_max_subscriptions: int = Field(default=50, ge=1, le=1000)
    ws_max_connections_per_viewer: int = Field(default=20, ge=1, le=10_000)
    ws_max_message_bytes: int = Field(default=65_536, ge=1024, le=10_485_760)
    # permessage-deflate on WebSockets: smaller frames for large payloads, but about 45 KB
    # of zlib state per connection (the compressor's window), idle or not.
    ws_compression: bool = False

    # Booking: how long a slot hold lasts, and how far ahead of now a slot must start.
    hold_minutes: int = Field(default=10, ge=1, le=120)
    min_lead_minutes: int = Field(default=60, ge=0, le=7 * 24 * 60)
    # Video appointments: the meeting link given when one is confirmed; `{room}` becomes an
    # unguessable room name (32 hex digits). Doctors may set their own link instead.
    meeting_url_template: str = "https://meet.jit.si/caregraph-{room}"

    # Unpaid bookings (PENDING_PAYMENT) lapse this long after they are made (or approved):
    # their time is free to others from then on, and the lapse job cancels them.
    payment_window_minutes: int = Field(default=30, ge=1, le=7 * 24 * 60)

    # Payments. New checkouts go to this provider: `manual` (paid at the front desk and
    # recorded there) or `stripe` (PaymentIntents; needs the API key and webhook secret).
    payment_provider: Literal["manual", "stripe"] = "manual"
    stripe_api_key: str | None = None
    stripe_webhook_secret: str | None = None
    # Where the Stripe client sends requests (unset: api.stripe.com); tests, stripe-mock.
    stripe_api_base: str | None = None
    # Webhook events signed longer ago than this are refused (replays).
    stripe_webhook_tolerance_seconds: int = Field(default=300, ge=1, le=3600)
    # A late cancellation (by the patient's side, inside the doctor's cancellation window)
    # keeps this percentage of the payment as a fee: 100 refunds nothing, 0 everything.
    late_cancellation_fee_percent: int = Field(default=100, ge=0, le=100)

    # Appointment reminders: this many minutes before a confirmed appointment's start
    # (JSON list; absolute durations, so a DST change in between moves nothing).
    reminder_minutes_before: list[int] = Field(default_factory=lambda: [24 * 60, 60])

    # Jobs (resolvers/core/jobs.py). `python server.py` runs workers in every server
    # process; false: only `python server.py worker` processes run jobs.
    jobs_in_process: bool = True
    # A running job beats this often (half of it); one silent this long is taken again.
    jobs_heartbeat_seconds: float = Field(default=30, ge=1, le=3600)
    # Longest wait for new work without a notification (jobs coming due, missed NOTIFYs).
    jobs_poll_seconds: float = Field(default=5, gt=0, le=600)
    jobs_batch_size: int = Field(default=10, ge=1, le=1000)
    # First retry after this long, doubling per attempt (at most 30 minutes).
    jobs_retry_seconds: float = Field(default=5, gt=0, le=3600)
    # After a lost connection, the workers start again after this long.
    jobs_restart_seconds: float = Field(default=5, gt=0, le=600)

    # Rate limits: a token bucket per viewer (user id; service_role exempt) and per client
    # address (anon), shared by every process and instance through Postgres (resolvers/
    # rate_limits.py, schema/engine/rate_limits.py). Unset: on in production, off in development.
    rate_limits: bool | None = None
    rate_limit_viewer_burst: float = Field(default=120, gt=0)
    rate_limit_viewer_per_second: float = Field(default=2, gt=0)
    rate_limit_anon_burst: float = Field(default=60, gt=0)
    rate_limit_anon_per_second: float = Field(default=1, gt=0)
    # A query takes 1 + cost / cost_per_token tokens, a mutation mutation_tokens + that.
    rate_limit_mutation_tokens: float = Field(default=10, ge=0)
    rate_limit_cost_per_token: float = Field(default=1000, gt=0)
    # Each process sends what it admitted to Postgres (and reads back the others') this often.
    rate_limit_sync_seconds: float = Field(default=0.5, gt=0, le=60)
    # Peers whose X-Forwarded-For is believed: addresses or networks (JSON list).
    trusted_proxies: list[IPvAnyNetwork] = Field(default_factory=list)

    @field_validator("read_replica_urls", mode="before")
    @classmethod
    def _replica_urls(cls, urls: Any) -> Any:
        if isinstance(urls, str):
            if urls.lstrip().startswith("["):
                return json.loads(urls)  # a JSON list, as the other list settings take
            return [url.strip() for url in urls.split(",") if url.strip()]
        return urls

    @field_validator("reminder_minutes_before")
    @classmethod
    def _reminder_minutes(cls, minutes: list[int]) -> list[int]:
        if len(minutes) > 5 or any(not 1 <= value <= 30 * 24 * 60 for value in minutes):
            raise ValueError("at most 5 reminders, each 1 minute to 30 days before the start")
        return sorted(set(minutes), reverse=True)

    @field_validator("meeting_url_template")
    @classmethod
    def _meeting_url_template(cls, template: str) -> str:
        try:
            example = template.format(room="room")
        except (KeyError, IndexError, ValueError) as error:
            raise ValueError(f"must use only the placeholder {{room}}: {error}") from None
        if "{room}" not in template or not example.startswith("https://"):
            raise ValueError("must be an https:// URL containing {room}")
        return template

    @model_validator(mode="after")
    def _stripe(self) -> Settings:
        if self.payment_provider == "stripe" and not (
            self.stripe_api_key and self.stripe_webhook_secret
        ):
            raise ValueError(
                "CAREGRAPH_PAYMENT_PROVIDER=stripe needs CAREGRAPH_STRIPE_API_KEY and "
                "CAREGRAPH_STRIPE_WEBHOOK_SECRET."
            )
        return self

    @model_validator(mode="after")
    def _secrets(self) -> Settings:
        if self.jwt_secret is None and self.env == "development":
            self.jwt_secret = DEV_JWT_SECRET
        if self.env == "production":
            if self.jwt_secret == DEV_JWT_SECRET:
                raise ValueError("CAREGRAPH_JWT_SECRET must not be the development secret.")
            if self.jwt_secret is not None and len(self.jwt_secret) < 32:
                raise ValueError("CAREGRAPH_JWT_SECRET must be at least 32 characters.")
            if self.jwt_secret is None and self.jwks_file is None and self.jwks_url is None:
                raise ValueError(
                    "Production needs CAREGRAPH_JWT_SECRET or CAREGRAPH_JWKS_FILE/URL."
                )
        return self

    @property
    def is_production(self) -> bool:
        return self.env == "production"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
