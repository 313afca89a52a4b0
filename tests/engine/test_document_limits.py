"""Checks before execution take time linear in the document's size, whatever its
fragments do: a few hundred bytes of fragments that each spread the next one twice ask
for 2^n fields, and must be refused after looking at each node once."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from itertools import pairwise

import httpx
import pytest
from graphql import parse, specified_rules, validate

from resolvers.core.database import Database
from resolvers.core.settings import Settings
from schema import schema
from schema.engine.document_validation import (
    WORK_PER_TOKEN,
    bounded_rules,
    document_tokens,
    work_budget,
)
from schema.engine.limits import _measure, variables_problem
from tests.client import app_http
from tests.e2e.test_cli import _env, _free_port, _serve, _wait_for


def fragment_bomb(n: int, leaf: str = "id fullName") -> str:
    """`F{n}` spreads `F{n-1}` twice, down to `F0`: 2^n copies of the leaf fields."""
    fragments = [f"fragment F0 on Doctor {{ {leaf} }}"]
    fragments += [f"fragment F{i} on Doctor {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, n + 1)]
    return f"query Bomb {{ doctors(first: 1) {{ edges {{ node {{ ...F{n} }} }} }} }}\n" + "\n".join(
        fragments
    )


def repeated_fields(n: int) -> str:
    """One small selection repeated n times under one response name: field merging
    compares them pairwise."""
    return "{ " + " ".join(["doctors { edges { node { fullName } } }"] * n) + " }"


def _measured(document: str) -> tuple[int, int, int]:
    measured, _ = _measure(schema._schema, parse(document), None, {}, 20)
    return measured.visited, measured.cost, measured.selections


def test_measuring_a_fragment_bomb_visits_each_node_once() -> None:
    sizes = [5, 10, 20, 40, 80]
    visited = [_measured(fragment_bomb(n))[0] for n in sizes]
    steps = {
        (b - a) / (m - n) for (a, b), (n, m) in zip(pairwise(visited), pairwise(sizes), strict=True)
    }
    # Exactly linear: each more fragment adds the same number of visited nodes.
    assert steps == {2.0}, visited
    # ...while the measurement still counts what the expansion would ask for.
    _, cost, selections = _measured(fragment_bomb(80))
    assert selections == 3 + 2 * 2**80  # doctors, edges, node and the leaves
    assert cost > 2**80


def test_a_fragment_is_measured_as_if_expanded() -> None:
    # The same numbers as expanding every spread by hand.
    assert _measured(fragment_bomb(10))[1:] == (2051, 2051)
    expanded = "{ doctors(first: 1) { edges { node { " + "id fullName " * 4 + "} } } }"
    assert _measured(fragment_bomb(2))[1:] == _measured(expanded)[1:]


def test_field_merging_work_is_bounded_by_the_document_size() -> None:
    document = parse(repeated_fields(200))
    assert work_budget(document) == WORK_PER_TOKEN * document_tokens(document)
    bounded = validate(schema._schema, document, bounded_rules(specified_rules))
    assert [error.message for error in bounded] == ["Validation aborted."]
    # graphql-core's fixed budget would let this document compare ~20,000 field pairs.
    unbounded = validate(schema._schema, document, specified_rules)
    assert unbounded == []
    # A document of ordinary shape is untouched: 30 fragments on one object validate.
    fragments = "\n".join(f"fragment A{i} on Doctor {{ id fullName }}" for i in range(30))
    spreads = " ".join(f"...A{i}" for i in range(30))
    ordinary = parse(f"{{ doctors {{ edges {{ node {{ {spreads} }} }} }} }}\n{fragments}")
    assert validate(schema._schema, ordinary, bounded_rules(specified_rules)) == []


@pytest.mark.parametrize(
    ("leaf", "limits"),
    [("id fullName", {"cost", "selections"}), ("__typename", {"selections"})],
)
async def test_fragment_bomb_is_refused_before_execution(
    settings: Settings, db: Database, leaf: str, limits: set[str]
) -> None:
    async with app_http(settings, db) as http:
        response = await http.post("/graphql", json={"query": fragment_bomb(60, leaf)})
    body = response.json()
    assert "data" not in body or body["data"] is None
    assert {error["extensions"]["limit"] for error in body["errors"]} == limits
    assert {error["extensions"]["code"] for error in body["errors"]} == {"BAD_USER_INPUT"}


async def test_server_answers_others_while_refusing_a_bomb(database_url: str) -> None:
    port = _free_port()
    process = await asyncio.to_thread(_serve, _env(DATABASE_URL=database_url), "--port", str(port))
    base = f"http://127.0.0.1:{port}"
    try:
        await asyncio.to_thread(_wait_for, f"{base}/healthz", process)
        async with httpx.AsyncClient(base_url=base, timeout=20) as http:

            async def bombs() -> list[httpx.Response]:
                return [
                    await http.post("/graphql", json={"query": fragment_bomb(40)}) for _ in range(5)
                ]

            async def pings() -> list[httpx.Response]:
                answers = []
                for _ in range(20):
                    answers.append(await http.post("/graphql", json={"query": "{ __typename }"}))
                    await asyncio.sleep(0.01)
                return answers

            refused, answered = await asyncio.gather(bombs(), pings())
        # Refused by a limit or by validation's work budget: either way before running.
        for response in refused:
            body = response.json()
            assert body.get("data") is None
            assert {e["extensions"]["code"] for e in body["errors"]} == {"BAD_USER_INPUT"}
        assert [r.json() for r in answered] == [{"data": {"__typename": "Query"}}] * 20
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def _nested(levels: int) -> dict[str, object]:
    value: dict[str, object] = {}
    for _ in range(levels - 1):
        value = {"and": value}
    return value


UPDATE_QUALIFICATIONS = """
mutation Qualify($q: JSON) {
  updateDoctorProfile(input: {qualifications: $q}) { __typename }
}"""


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"q": _nested(500)}, "nested deeper than 32 levels"),
        ({"q": [[[["x"]]]] * 5001}, "more than 20000 values"),
    ],
)
async def test_variables_are_bounded_before_coercion(
    settings: Settings, db: Database, variables: dict[str, object], message: str
) -> None:
    async with app_http(settings, db) as http:
        response = await http.post(
            "/graphql", json={"query": UPDATE_QUALIFICATIONS, "variables": variables}
        )
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert message in error["message"]


def test_variables_within_bounds_pass() -> None:
    assert variables_problem({"q": _nested(32), "list": list(range(100))}, 32, 20_000) is None
    assert variables_problem({"q": _nested(33)}, 32, 20_000) is not None


async def test_an_error_without_a_code_is_masked_as_internal(
    settings: Settings, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """With the bound lifted, graphql-core's recursive coercion fails outside the
    schema's error handling: the answer still carries a code."""
    async with app_http(settings, db, max_variable_depth=100_000) as http:
        response = await http.post(
            "/graphql", json={"query": UPDATE_QUALIFICATIONS, "variables": {"q": _nested(500)}}
        )
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert "recursion" not in error["message"]
    assert any("error without a code" in record.message for record in caplog.records)
