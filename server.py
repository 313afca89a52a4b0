"""caregraph: app factory and command line (serve, migrate, seed, token, export-schema)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gc
import logging
import os
import re
import signal
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import orjson
from sqlalchemy import text
from starlette._utils import get_route_path
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from resolvers.core.database import Database, StatementCounter, statement_counter
from resolvers.core.settings import Settings, get_settings
from schema import build_schema
from schema.engine.graphiql import static_route as graphiql_static_route
from schema.engine.http import GraphQLEndpoint
from schema.engine.metrics import Metrics
from schema.engine.websocket import GraphQLWebSocket
from schema.payments import StripeWebhookEndpoint

ROOT = Path(__file__).resolve().parent
DEMO_ROLES = {
    "patient": "patient@caregraph.dev",
    "patient2": "patient2@caregraph.dev",
    "doctor": "doctor@caregraph.dev",
    "coach": "coach@caregraph.dev",
    "staff": "staff@caregraph.dev",
    "admin": "admin@caregraph.dev",
}
logger = logging.getLogger("caregraph")
access_log = logging.getLogger("caregraph.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


# --- database -------------------------------------------------------------------------


def embedded_postgres_uri(data_dir: Path, database: str = "caregraph") -> str:
    """Starts (or reuses) the embedded Postgres in `data_dir/postgres` and makes sure
    `database` exists. The server stops when the last process using it exits (pgserver
    stops it from an atexit hook; `main` stops it explicitly, see `stop_embedded_postgres`)."""
    import warnings

    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    import pgserver

    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(data_dir.resolve() / "postgres", cleanup_mode="stop")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
    _EMBEDDED_SERVERS.append(server)
    return str(server.get_uri(database))


_EMBEDDED_SERVERS: list[Any] = []


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def stop_embedded_postgres(servers: Sequence[Any]) -> None:
    """Stops these embedded Postgres servers unless another live process still uses one.

    pgserver counts the processes using a server in `.handle_pids.json` and stops it when
    the last one leaves, from an atexit hook. A process killed by a signal never runs that
    hook and stays in the list, so every later start/stop cycle thought the server still in
    use and left it running: the pids of dead processes are dropped first."""
    for server in {id(server): server for server in servers}.values():
        with server._lock:
            handles = server.global_process_id_list
            handles.put([pid for pid in handles.get() if _process_alive(pid)])
        server.cleanup()  # stops it if this process was the last user; atexit then no-ops
        while server in _EMBEDDED_SERVERS:
            _EMBEDDED_SERVERS.remove(server)


def database_url(settings: Settings) -> str:
    if settings.database_url:
        return settings.database_url
    return embedded_postgres_uri(settings.data_dir)


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(url: str, *, pgbouncer: bool = False) -> None:
    """`alembic upgrade head` (synchronous; call it outside a running event loop);
    `pgbouncer`: through a transaction pooler (`Settings.db_pgbouncer`)."""
    from alembic import command

    config = alembic_config(url)
    config.attributes["pgbouncer"] = pgbouncer
    command.upgrade(config, "head")


def make_database(settings: Settings, url: str) -> Database:
    return Database(
        url,
        pgbouncer=settings.db_pgbouncer,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        statement_timeout=settings.request_timeout_seconds,
        replica_urls=settings.read_replica_urls,
        replica_max_lag=settings.replica_max_lag_seconds,
        replica_poll_seconds=settings.replica_poll_seconds,
    )


# --- HTTP ---------------------------------------------------------------------------


class AccessLogMiddleware:
    """Every HTTP request: its request id (a sane incoming `X-Request-ID`, else a new one;
    returned on the response), one JSON access-log line and the Prometheus metrics, with
    the SQL statement count of the request.

    Pure ASGI, one layer and one `send` wrapper for all of it (it was a request-id
    middleware and an access-log one). The line is written with orjson and handed to the
    logger's handlers without `Logger.info`'s look-up of the calling frame (the line says
    where it is from)."""

    def __init__(self, app: ASGIApp, metrics: Metrics, enabled: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        self.enabled = enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        incoming = b""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value  # the last one, as a dict of the headers would keep
        request_id = incoming.decode("latin-1")
        if not _REQUEST_ID.match(request_id):
            request_id = uuid.uuid4().hex
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        state["request_id"] = request_id
        request_id_header = (b"x-request-id", request_id.encode())
        counter = statement_counter.get() or StatementCounter()
        reset = statement_counter.set(counter)
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append(request_id_header)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            statement_counter.reset(reset)
            duration = time.perf_counter() - started
            path = scope.get("path", "")
            if path == "/graphql" and scope.get("method") in ("GET", "POST"):
                self.metrics.observe(
                    state.get("operation"), status, duration, state.get("error_codes") or []
                )
            if (
                self.enabled
                and path not in ("/healthz", "/metrics")
                and access_log.isEnabledFor(logging.INFO)
            ):
                line = orjson.dumps(
                    {
                        "request_id": state.get("request_id"),
                        "method": scope.get("method"),
                        "path": path,
                        "operation": state.get("operation"),
                        "viewer": state.get("viewer_id"),
                        "status": status,
                        "duration_ms": round(duration * 1000, 2),
                        "sql_statements": counter.count,
                        "executor": state.get("executor"),
                        "sql_json": state.get("sql_json") or [],
                        "error_codes": state.get("error_codes") or [],
                        "pid": os.getpid(),
                    }
                ).decode()
                access_log.handle(
                    access_log.makeRecord(
                        access_log.name, logging.INFO, __file__, 0, line, (), None
                    )
                )


class CorsMiddleware(CORSMiddleware):
    """Starlette's CORS middleware, without its per-request `Headers` and `MutableHeaders`
    when the request has no `Origin` (not a cross-origin request: every API client but a
    browser's page elsewhere): the response then only gets `Vary: Origin`, as Starlette
    adds it."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, _value in scope["headers"]:
                if name == b"origin":
                    break
            else:

                async def vary_origin(message: Message) -> None:
                    if message["type"] == "http.response.start":
                        headers = message.setdefault("headers", [])
                        if any(name.lower() == b"vary" for name, _value in headers):
                            # Starlette joins the values it finds into one header.
                            mutable = MutableHeaders(scope=message)
                            mutable["Vary"] = ", ".join([*mutable.getlist("Vary"), "Origin"])
                        else:
                            headers.append((b"vary", b"Origin"))
                    await send(message)

                await self.app(scope, receive, vary_origin)
                return
        await super().__call__(scope, receive, send)


class GraphQLRoute:
    """`/graphql` over GET and POST goes straight to its endpoint; everything else goes on
    through Starlette's exception middleware and router. Those would reach the same
    endpoint (an ASGI app the router calls as it is) after matching the path against the
    routes and wrapping `send` to turn an `HTTPException` into a response; the endpoint
    raises none (it answers every error itself, schema/engine/http.py). The scope gets what
    the router would have set."""

    def __init__(self, app: ASGIApp, route: Route, router: Any) -> None:
        self.app = app
        self.route = route
        self.router = router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] in ("GET", "POST")
            and get_route_path(scope) == self.route.path
        ):
            scope.setdefault("router", self.router)
            scope["route"] = self.route
            scope["endpoint"] = self.route.endpoint
            scope["path_params"] = dict(scope.get("path_params", {}))
            await self.route.app(scope, receive, send)
            return
        await self.app(scope, receive, send)


@functools.cache
def migration_head() -> str | None:
    """The latest revision in `migrations/` (read once: the code does not change while
    the process runs)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(ROOT / "migrations")).get_current_head()


READINESS_TIMEOUT_SECONDS = 5.0


async def readiness(db: Database) -> tuple[bool, str]:
    """Database reachable (within `READINESS_TIMEOUT_SECONDS`) and migrated to the latest
    revision."""
    head = migration_head()
    try:
        async with asyncio.timeout(READINESS_TIMEOUT_SECONDS), db.engine.connect() as conn:
            current = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    except Exception as exc:  # any failure to reach or read the database means not ready
        return False, f"database unavailable: {type(exc).__name__}"
    if current != head:
        return False, f"migrations behind: database at {current}, code at {head}"
    return True, "ready"


def tune_garbage_collector() -> None:
    """The objects alive once the app has started (modules, the schema, the ORM mappers)
    live as long as the process: freezing them keeps full collections from walking them
    again. A request allocates tens of thousands of short-lived objects (rows, loader
    futures, response dicts). Measured on the bench feed: at the default threshold of 700,
    about 10 young collections a request and a full one every dozen requests; with the
    startup heap frozen and a young threshold of 50,000, about one young collection every
    three requests, and a third less CPU per request. Older generations keep tight
    thresholds (10, 10): looser ones saved little more CPU but let cyclic garbage
    (sessions, results) pile up, about 60 MB more at 32 clients."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 10, 10)


def create_app(settings: Settings | None = None, db: Database | None = None) -> Starlette:
    """The ASGI app. Pass `db` to share an engine (tests); otherwise the lifespan opens
    one from the settings (embedded Postgres when DATABASE_URL is unset)."""
    settings = settings or get_settings()
    state: dict[str, Any] = {"db": db}
    metrics = Metrics(lambda: state.get("db"), lambda: state.get("realtime"))

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        owned = state["db"] is None
        if owned:
            url = await asyncio.to_thread(database_url, settings)
            state["db"] = make_database(settings, url)
        tune_garbage_collector()
        if state["db"].replicas is not None:
            state["db"].replicas.start()  # replicas known before the first query
        if settings.jobs_in_process:
            state["jobs"] = start_jobs(state["db"], settings)
        try:
            yield
        finally:
            runner = state.get("jobs")
            if runner is not None:
                await runner.stop()
            limiter = state.get("rate_limiter")
            if limiter is not None:
                # What was admitted since the last sync reaches Postgres, so a restart does
                # not hand out the tokens of the last interval again.
                await limiter.close()
            hub = state.get("realtime")
            if hub is not None:
                await hub.close()
            if owned:
                await state["db"].dispose()

    graphql_schema = build_schema(settings)
    endpoint = GraphQLEndpoint(graphql_schema, settings, state)
    websocket_endpoint = GraphQLWebSocket(graphql_schema, settings, state)

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok", "pid": os.getpid()})

    async def readyz(_request: Request) -> Response:
        ready, reason = await readiness(state["db"])
        return JSONResponse(
            {"status": "ready" if ready else "unavailable", "reason": reason},
            status_code=200 if ready else 503,
        )

    async def metrics_endpoint(_request: Request) -> Response:
        body, content_type = metrics.render()
        body += metrics.render_replicas(state.get("db"))
        body += await metrics.render_jobs(state.get("db"))
        return Response(body, media_type=content_type)

    graphql_route = Route("/graphql", endpoint, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    app = Starlette(
        routes=[
            graphql_route,
            WebSocketRoute("/graphql", websocket_endpoint),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_endpoint),
            Route(
                "/webhooks/stripe", StripeWebhookEndpoint(settings, state).handle, methods=["POST"]
            ),
            graphiql_static_route(),
        ],
        lifespan=lifespan,
    )
    # Innermost first: Starlette wraps the last added outermost.
    app.add_middleware(GraphQLRoute, route=graphql_route, router=app.router)
    app.add_middleware(
        CorsMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST"],
        allow_headers=[
            "authorization",
            "content-type",
            "x-request-id",
            "apollographql-client-name",
            "apollographql-client-version",
            "idempotency-key",
        ],
        expose_headers=["x-request-id", "retry-after", "idempotent-replayed"],
        max_age=600,
    )
    app.add_middleware(AccessLogMiddleware, metrics=metrics, enabled=settings.log_requests)
    return app


def configure_logging() -> None:
    """Plain lines for humans; the access log is one JSON object per line on stdout."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for noisy in ("pgserver", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if not access_log.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        access_log.addHandler(handler)
        access_log.setLevel(logging.INFO)
        access_log.propagate = False


def app_factory() -> Starlette:
    """For `uvicorn --factory server:app_factory` and `--workers`."""
    configure_logging()
    return create_app(get_settings())


# --- jobs ----------------------------------------------------------------------------


def start_jobs(db: Database, settings: Settings) -> Any:
    """Workers for every kind of job (resolvers/jobs.py), in this process's event loop."""
    import resolvers.jobs  # noqa: F401  (registers the kinds)
    from resolvers.core.jobs import JobRunner

    runner = JobRunner(db, settings)
    runner.start()
    return runner


async def _work(settings: Settings, url: str) -> None:
    """`python server.py worker`: jobs only, until SIGTERM or Ctrl-C; running jobs finish."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with _database(settings, url) as db:
        runner = start_jobs(db, settings)
        print(f"caregraph worker {os.getpid()}: running jobs", flush=True)
        await stop.wait()
        await runner.stop()
    print(f"caregraph worker {os.getpid()}: stopped", flush=True)


# --- command line ---------------------------------------------------------------------


@asynccontextmanager
async def _database(settings: Settings, url: str) -> AsyncIterator[Database]:
    """An engine for one command-line task, disposed when it is done."""
    db = make_database(settings, url)
    try:
        yield db
    finally:
        await db.dispose()


async def _seed(db: Database, *, only_if_empty: bool) -> bool:
    from resolvers.demo import load_demo_data

    if only_if_empty:
        async with db.engine.connect() as conn:
            has_users = (await conn.execute(text("SELECT EXISTS (SELECT 1 FROM users)"))).scalar()
        if has_users:
            return False
    await load_demo_data(db)
    return True


async def _token(db: Database, settings: Settings, email: str, role: str | None) -> str:
    from resolvers.core.identity import mint_token
    from resolvers.demo.ids import user_id_for
    from resolvers.users import ensure_user

    email = email.strip().lower()
    user_id = await ensure_user(db, email, role, new_id=user_id_for(email))
    assert settings.jwt_secret, "CAREGRAPH_JWT_SECRET is not set"
    return mint_token(
        settings.jwt_secret,
        user_id=user_id,
        email=email,
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
    )


async def _prepare_demo(settings: Settings, url: str) -> tuple[bool, dict[str, str]]:
    """Demo data when the database is empty, and a token per demo account."""
    async with _database(settings, url) as db:
        loaded = await _seed(db, only_if_empty=True)
        tokens = {
            role: await _token(db, settings, email, None) for role, email in DEMO_ROLES.items()
        }
    return loaded, tokens


async def _run_command(settings: Settings, url: str, args: argparse.Namespace) -> None:
    async with _database(settings, url) as db:
        if args.command == "seed":
            loaded = await _seed(db, only_if_empty=args.if_empty)
            print("Loaded demo data." if loaded else "Database not empty; nothing loaded.")
        elif args.command == "token":
            token = await _token(db, settings, args.email, args.role)
            print(f"Token for {args.email}:")
            print(token)
        elif args.command == "register-documents":
            from resolvers.core.persisted_queries import PersistedQueryStore

            store = PersistedQueryStore(db)
            for name, document in args.documents:
                print(f"{await store.save(document, trusted=True)}  {name}")


def export_schema_sdl() -> str:
    from schema import schema

    return schema.as_str() + "\n"


def read_documents(folder: Path) -> list[tuple[str, str]]:
    files = sorted(folder.rglob("*.graphql"))
    if not files:
        raise SystemExit(f"No .graphql files in {folder}")
    return [(str(path.relative_to(folder)), path.read_text()) for path in files]


class _Terminated(BaseException):
    """SIGTERM, raised in the main thread: the process unwinds (running `finally` blocks)
    instead of dying on the spot as it does by default."""


def _raise_terminated(_signum: int, _frame: FrameType | None) -> None:
    raise _Terminated


@contextmanager
def _stopping_embedded_postgres() -> Iterator[None]:
    """Stops the embedded Postgres this block started, however the block ends: normally,
    Ctrl-C (SIGINT) or SIGTERM (systemd, `docker stop`, Kubernetes).

    While uvicorn serves, its own handlers catch both signals and let in-flight requests
    finish; afterwards it raises the signal again (a `--workers` supervisor just returns
    once its workers have exited). Without a handler a re-raised SIGTERM killed the
    process before pgserver's atexit hook could stop Postgres; here it unwinds into this
    block's `finally`."""
    started = len(_EMBEDDED_SERVERS)
    previous = None
    if threading.current_thread() is threading.main_thread():  # signals go to the main thread
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    except _Terminated:
        raise SystemExit(128 + signal.SIGTERM) from None  # stopped before serving
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        earlier = {id(server) for server in _EMBEDDED_SERVERS[:started]}
        stop_embedded_postgres(
            [server for server in _EMBEDDED_SERVERS[started:] if id(server) not in earlier]
        )


def _serve(settings: Settings, host: str, port: int, workers: int) -> None:
    import uvicorn

    url = database_url(settings)
    migrate(url, pgbouncer=settings.db_pgbouncer)
    # Production gets no demo accounts: they include an admin whose token would be
    # printed to the log (`python server.py seed` loads the demo data on purpose).
    loaded, tokens = (
        (False, {}) if settings.is_production else asyncio.run(_prepare_demo(settings, url))
    )
    if loaded:
        print("Loaded demo data.")
    where = "embedded Postgres in " + str(settings.data_dir / "postgres")
    if settings.database_url:
        where = "DATABASE_URL"
    print(f"\ncaregraph on {where}")
    print(f"GraphiQL: http://{host}:{port}/graphql\n")
    if tokens:
        print("Demo tokens (send as `Authorization: Bearer <token>`; in GraphiQL, Headers tab):")
        for role, token in tokens.items():
            print(f"  {role:8} {DEMO_ROLES[role]}\n           {token}")
    else:
        print("Production: no demo data or demo accounts.")
    print(flush=True)
    options: dict[str, Any] = {"host": host, "port": port, "log_level": "info"}
    options["timeout_graceful_shutdown"] = 10  # in-flight requests finish on shutdown
    options["ws_per_message_deflate"] = settings.ws_compression
    # Our JSON access log already has one line per request (with its SQL statement count):
    # uvicorn's own line would only repeat it.
    options["access_log"] = not settings.log_requests
    if workers > 1:
        # Workers are separate processes: they reach the database resolved here, and
        # share the connection budget (Postgres allows 100 connections by default).
        os.environ["DATABASE_URL"] = url
        os.environ["CAREGRAPH_DB_POOL_SIZE"] = str(max(2, settings.db_pool_size // workers))
        os.environ["CAREGRAPH_DB_MAX_OVERFLOW"] = str(settings.db_max_overflow // workers)
        uvicorn.run("server:app_factory", factory=True, workers=workers, **options)
        return
    # uvicorn shuts down gracefully, then raises SIGTERM again: a clean stop, as Ctrl-C is.
    with contextlib.suppress(_Terminated):
        uvicorn.run(create_app(settings), **options)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="server.py",
        description="caregraph GraphQL server. Without DATABASE_URL it runs an embedded "
        "Postgres in $CAREGRAPH_DATA_DIR/postgres (default ./.data/postgres).",
    )
    commands = parser.add_subparsers(dest="command", metavar="command")
    serve = commands.add_parser(
        "serve", help="migrate, load demo data if empty (not in production), serve (default)"
    )
    for target in (parser, serve):
        target.add_argument("--host", default="127.0.0.1", help="bind address")
        target.add_argument("--port", type=int, default=8000, help="port")
        target.add_argument("--workers", type=int, default=1, help="worker processes")
    commands.add_parser(
        "worker", help="run jobs only, no HTTP (servers then set CAREGRAPH_JOBS_IN_PROCESS=false)"
    )
    commands.add_parser("migrate", help="apply database migrations (alembic upgrade head)")
    seed = commands.add_parser("seed", help="load the demo data")
    seed.add_argument("--if-empty", action="store_true", help="only when there are no users")
    token = commands.add_parser("token", help="print a signed token for a user (created if new)")
    token.add_argument("--email", required=True, help="the user's email")
    token.add_argument(
        "--role", choices=["patient", "doctor", "coach", "admin"], help="grant this app role"
    )
    register = commands.add_parser(
        "register-documents", help="register a folder of .graphql files as trusted documents"
    )
    register.add_argument("folder", type=Path, help="folder with .graphql files (recursive)")
    export = commands.add_parser("export-schema", help="print the GraphQL SDL (or write it)")
    export.add_argument("--output", type=Path, help="write to this file instead of stdout")
    args = parser.parse_args(argv)

    configure_logging()
    with _stopping_embedded_postgres():
        return _main(args)


def _main(args: argparse.Namespace) -> int:
    settings = get_settings()
    command = args.command or "serve"
    if command == "export-schema":
        sdl = export_schema_sdl()
        if args.output:
            args.output.write_text(sdl)
        else:
            sys.stdout.write(sdl)
        return 0
    if command == "serve":
        _serve(settings, args.host, args.port, max(1, args.workers))
        return 0
    if command == "register-documents":
        args.documents = read_documents(args.folder)
    url = database_url(settings)
    migrate(url, pgbouncer=settings.db_pgbouncer)
    if command == "migrate":
        print("Database is at the latest migration.")
    elif command == "worker":
        asyncio.run(_work(settings, url))
    else:
        asyncio.run(_run_command(settings, url, args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
