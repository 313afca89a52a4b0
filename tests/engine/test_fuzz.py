"""The fuzz suite: operations generated from the committed `schema.graphql`
(hypothesis-graphql), queries and mutations, valid and with one schema violation, sent
over HTTP to the real app as each viewer in `fuzz_support.ROLES`, against the demo
clinic (ids and strings of its rows are mixed into the generated values), with their
arguments as literals or as variables.

Every answer must come within the request deadline, with a code on each error and never
INTERNAL_SERVER_ERROR (or SERVICE_UNAVAILABLE: the database is up), and leave nothing
behind: no traceback or error logged, no unraisable exception, no coroutine never
awaited (a `gc.collect()` after each request makes dropped ones surface).

A default run makes `EXAMPLES` examples per test (a few hundred in all). For a longer
run: `CAREGRAPH_FUZZ_EXAMPLES=2000 pytest -m fuzz`."""

from __future__ import annotations

import gc
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import graphql
import hypothesis_graphql as hgql
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resolvers.core.database import Database
from resolvers.core.settings import Settings
from server import ROOT
from tests.client import GraphQLClient
from tests.engine.fuzz_support import (
    CURSORS,
    ODD_SCALARS,
    ROLES,
    VALID_SCALARS,
    seed,
    watch,
    with_cursors,
    with_shapes,
    with_variables,
)

pytestmark = pytest.mark.fuzz

SCHEMA = graphql.build_schema((ROOT / "schema.graphql").read_text())
EXAMPLES = int(os.environ.get("CAREGRAPH_FUZZ_EXAMPLES", "200"))
"""Examples per test."""

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)


_SCALARS = {"valid": VALID_SCALARS, "odd": ODD_SCALARS}


@lru_cache(maxsize=1024)
def _operations(
    kind: str, fields: tuple[str, ...] | None, mode: hgql.Mode, scalars: str
) -> st.SearchStrategy[graphql.DocumentNode]:
    make = hgql.queries if kind == "query" else hgql.mutations
    return make(
        SCHEMA,
        fields=fields,
        custom_scalars=_SCALARS[scalars],
        print_ast=lambda document: document,
        mode=mode,
    )


def _documents(mode: hgql.Mode, scalars: str) -> st.SearchStrategy[graphql.DocumentNode]:
    """Queries and mutations alike. Valid ones have one or two root fields, picked evenly
    (left to itself, hypothesis-graphql favours some: a few hundred examples reached
    `doctors(after:)` about once); an invalid one breaks one rule picked among all the
    schema's (not every root field has a rule to break)."""
    kinds: list[st.SearchStrategy[graphql.DocumentNode]] = []
    for kind, root in (("query", SCHEMA.query_type), ("mutation", SCHEMA.mutation_type)):
        assert root is not None
        if mode == hgql.Mode.NEGATIVE:
            kinds.append(_operations(kind, None, mode, scalars))
            continue

        def operations(
            fields: list[str], kind: str = kind
        ) -> st.SearchStrategy[graphql.DocumentNode]:
            return _operations(kind, tuple(sorted(fields)), mode, scalars)

        names = st.lists(st.sampled_from(sorted(root.fields)), min_size=1, max_size=2, unique=True)
        kinds.append(names.flatmap(operations))
    return st.one_of(kinds)


@dataclass(frozen=True)
class Case:
    """One example: the operation, who sends it, and how it is spelled."""

    document: graphql.DocumentNode
    role: str
    cursors: list[str | None]
    """Given to its `after` arguments in turn (see `with_cursors`)."""
    variables: bool
    """Its arguments as variables rather than literals."""
    alias: bool
    hide: bool | None
    """See `with_shapes`."""


def _cases(documents: st.SearchStrategy[graphql.DocumentNode]) -> st.SearchStrategy[Case]:
    return st.builds(
        Case,
        document=documents,
        role=st.sampled_from(ROLES),
        cursors=st.lists(st.none() | CURSORS, min_size=1, max_size=4),
        variables=st.booleans(),
        alias=st.booleans(),
        hide=st.none() | st.booleans(),
    )


@dataclass(repr=False)  # hypothesis prints it with a failing case
class Fuzz:
    client: GraphQLClient
    settings: Settings
    tokens: dict[str, str | None]

    def __repr__(self) -> str:
        return "Fuzz(...)"


@pytest.fixture
async def fuzz(client: GraphQLClient, db: Database, settings: Settings) -> AsyncIterator[Fuzz]:
    pool = await seed(db)
    tokens = {
        role: None if viewer is None else client.token(viewer[0], viewer[1])
        for role, viewer in pool.viewers.items()
    }
    # What exists now is not garbage: frozen, the collection after each request (which
    # makes dropped coroutines surface) looks at that request's objects only.
    gc.collect()
    gc.freeze()
    try:
        yield Fuzz(client, settings, tokens)
    finally:
        gc.unfreeze()


async def _check(fuzz: Fuzz, case: Case) -> None:
    document = with_cursors(case.document, case.cursors)
    values: dict[str, Any] = {}
    if case.variables:
        document, values = with_variables(SCHEMA, document)
    document, values = with_shapes(document, values, alias=case.alias, hide=case.hide)
    query = graphql.print_ast(document)
    with watch() as leftovers:
        started = time.monotonic()
        response = await fuzz.client.execute(query, values, token=fuzz.tokens[case.role])
        elapsed = time.monotonic() - started
    gc.freeze()
    problems = leftovers.problems()
    if response.status >= 500:
        problems.append(f"HTTP {response.status}")
    for error in response.errors:
        code = (error.get("extensions") or {}).get("code")
        if code is None:
            problems.append(f"error without a code: {error}")
        elif code in ("INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE"):
            problems.append(f"{code}: {error}")
    if elapsed >= fuzz.settings.request_timeout_seconds:
        problems.append(f"answered in {elapsed:.1f} s")
    assert not problems, (case.role, query, values, response.body, problems)


@FUZZ
@given(case=_cases(_documents(hgql.Mode.POSITIVE, "valid")))
async def test_valid_operations(fuzz: Fuzz, case: Case) -> None:
    await _check(fuzz, case)


@FUZZ
@given(case=_cases(_documents(hgql.Mode.POSITIVE, "odd") | _documents(hgql.Mode.NEGATIVE, "odd")))
async def test_invalid_operations(fuzz: Fuzz, case: Case) -> None:
    """Valid documents with odd values (out of range, malformed, junk), and documents
    that break one of the schema's rules."""
    await _check(fuzz, case)
