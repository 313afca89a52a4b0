"""Checks the plans of every statement the bench's read operations run.

    python -m bench.explain [--operations A,B] [--viewers 4] [--min-rows 10000]
                            [--database-url URL]

Runs each read operation for a few of its viewers through the real app in process (same
schema, policies, loaders and statement templates as the server), records every SQL
statement with the parameters it ran with, and asks Postgres for each one's plan with
`EXPLAIN (ANALYZE)`. A sequential scan on a table of at least `--min-rows` rows (the
generated tables; small tables such as lesson modules are read whole on purpose) is a
finding; the command exits 1 if there is one. Run `python -m bench.run` (or
`python -m bench.generate`) first: it fills the bench database.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import event

from bench.generate import Scale, connect, default_database_url
from bench.operations import OPERATIONS, Operation
from bench.run import _requests
from resolvers.core import database as database_module
from resolvers.core.settings import DEV_JWT_SECRET, Settings


@dataclass
class Captured:
    """The statements one operation ran, each with the first parameters seen."""

    statements: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    requests: int = 0

    def add(self, sql: str, parameters: Any) -> None:
        self.statements.setdefault(sql, tuple(parameters or ()))


@dataclass
class Finding:
    table: str
    rows: int
    sql: str


def _plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", ()):
        yield from _plan_nodes(child)


async def _drive(app: Any, operation: Operation, viewers: int) -> int:
    """Sends the operation for `viewers` of its viewers; returns how many answered."""
    answered = 0
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for body, headers in _requests(operation, Scale.full(), DEV_JWT_SECRET)[:viewers]:
            response = (await client.post("/graphql", content=body, headers=headers)).json()
            if response.get("errors"):
                raise SystemExit(f"{operation.name} failed: {response['errors']}")
            answered += 1
    return answered


async def _explain(
    url: str, captured: dict[str, Captured], min_rows: int
) -> dict[str, list[Finding]]:
    conn = await connect(url)
    try:
        sizes = {
            row["relname"]: int(row["reltuples"])
            for row in await conn.fetch(
                "SELECT relname, reltuples FROM pg_class WHERE relkind = 'r' "
                "AND relnamespace = 'public'::regnamespace"
            )
        }
        findings: dict[str, list[Finding]] = {}
        for name, seen in captured.items():
            found = findings.setdefault(name, [])
            for sql, parameters in seen.statements.items():
                statement = await conn.prepare(sql)
                plan = await statement.explain(*parameters, analyze=True)
                for node in _plan_nodes(plan[0]["Plan"]):
                    table = str(node.get("Relation Name"))
                    if node["Node Type"] == "Seq Scan" and sizes.get(table, 0) >= min_rows:
                        found.append(Finding(table, sizes[table], sql))
        return findings
    finally:
        await conn.close()


async def run(url: str, operations: list[Operation], viewers: int, min_rows: int) -> int:
    import server

    settings = Settings(database_url=url, log_requests=False)
    db = server.make_database(settings, url)
    app = server.create_app(settings, db)
    current: list[Captured] = []

    def record_sqlalchemy(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any
    ) -> None:
        if current:
            current[-1].add(statement, parameters)

    event.listen(db.engine.sync_engine, "before_cursor_execute", record_sqlalchemy)
    lane_fetch = database_module._ReadLane.fetch

    async def record_lane(lane: Any, sql: str, arguments: Any) -> list[Any]:
        if current:
            current[-1].add(sql, arguments)
        return await lane_fetch(lane, sql, arguments)

    database_module._ReadLane.fetch = record_lane  # type: ignore[method-assign,assignment]
    captured: dict[str, Captured] = {}
    try:
        for operation in operations:
            current.append(captured.setdefault(operation.name, Captured()))
            current[-1].requests = await _drive(app, operation, viewers)
    finally:
        database_module._ReadLane.fetch = lane_fetch  # type: ignore[method-assign]
        await db.dispose()
    findings = await _explain(url, captured, min_rows)
    heading = f"sequential scans (>= {min_rows} rows)"
    print(f"{'operation':26} {'requests':>8} {'statements':>10}  {heading}")
    for name, seen in captured.items():
        scans = ", ".join(sorted({f"{f.table} ({f.rows})" for f in findings[name]})) or "none"
        print(f"{name:26} {seen.requests:>8} {len(seen.statements):>10}  {scans}")
    for name, found in findings.items():
        for finding in found:
            print(f"\n{name}: Seq Scan on {finding.table} in\n{finding.sql}")
    return 1 if any(findings.values()) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.explain", description=__doc__.split("\n\n")[0] if __doc__ else ""
    )
    parser.add_argument("--operations", help="comma-separated operation names (default all reads)")
    parser.add_argument("--viewers", type=int, default=4, help="viewers per operation")
    parser.add_argument("--min-rows", type=int, default=10_000)
    parser.add_argument("--database-url")
    args = parser.parse_args(argv)
    reads = [operation for operation in OPERATIONS if operation.baseline_sql]
    if args.operations:
        wanted = set(args.operations.split(","))
        reads = [operation for operation in reads if operation.name in wanted]
    url = args.database_url or default_database_url()
    return asyncio.run(run(url, reads, args.viewers, args.min_rows))


if __name__ == "__main__":
    sys.exit(main())
