"""The bench at a tiny scale: the generator fills every table this branch has, and each
bench operation's GraphQL response equals its raw-SQL baseline's (differential test),
for several viewers, with a statement count that does not depend on the viewer."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from bench.baseline import create_pool, run_operation
from bench.generate import Scale, generate, table_counts
from bench.operations import OPERATIONS, viewer_email, viewer_id, viewer_numbers
from tests.client import GraphQLClient

SCALE = Scale.tiny()


def _filled(value: Any, name: str) -> bool:
    """Whether field `name` somewhere in `value` is a non-empty list or connection, or a
    non-null object."""
    if isinstance(value, list):
        return any(_filled(item, name) for item in value)
    if not isinstance(value, dict):
        return False
    found = value.get(name)
    if isinstance(found, list) and found:
        return True
    if isinstance(found, dict) and (found.get("edges") if "edges" in found else True):
        return True
    return any(_filled(item, name) for item in value.values())


async def test_generator_and_baseline_agree_with_graphql(
    client: GraphQLClient, database_url: str
) -> None:
    report = await generate(database_url, SCALE)
    assert {"users", "doctors", "availability", "goals", "appointments"} <= set(report.filled)
    counts = await table_counts(database_url)
    assert counts["doctors"] == SCALE.doctors
    assert counts["goals"] == SCALE.goals
    assert counts["appointments"] == SCALE.appointments
    assert counts["goal_check_ins"] > SCALE.goals

    pool = await create_pool(database_url, size=2)
    try:
        for operation in OPERATIONS:
            statements: set[int] = set()
            non_empty = 0
            for n in viewer_numbers(operation.viewer_kind, SCALE, 6):
                viewer = SimpleNamespace(
                    id=viewer_id(operation.viewer_kind, n),
                    email=viewer_email(operation.viewer_kind, n),
                )
                variables = operation.variables(SCALE, n)
                response = await client.execute(operation.document, variables, as_user=viewer)
                expected: Any = json.loads(
                    await run_operation(pool, operation.name, viewer.id, variables)
                )
                assert response.data == expected, (operation.name, n)
                statements.add(response.statements)
                non_empty += all(_filled(expected, name) for name in operation.filled)
            assert len(statements) == 1, (operation.name, statements)
            assert non_empty >= 3, operation.name
    finally:
        await pool.close()
