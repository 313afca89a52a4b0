"""Fields cancelled by graphql-core's executor leave no coroutine never awaited (issue 13
item 6, found by the fuzz suite about once in 20,000 requests).

graphql-core runs the async fields of an object (and the items of a list) as tasks of one
`gather_with_cancel`, and cancels them when the operation stops needing them: a sibling
field failed into a non-null position, or the request's deadline. A task cancelled
before its first step never runs its coroutine; graphql-core's coroutines there wrap
others they were handed (an object's `get_results`, a resolver's coroutine), which were
then never awaited. In the fuzz suite the timing came from the database; here resolvers
take a fixed number of event-loop steps, so each case happens every time."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import pytest
import strawberry

from schema.engine.execution import CompiledExecutionContext
from tests.engine.fuzz_support import Leftovers, watch


@strawberry.type
class Leaf:
    @strawberry.field
    async def value(self) -> str:
        return "x"


@strawberry.type
class Branch:
    """Sync resolvers to objects with an async field: graphql-core completes each with a
    `get_results` coroutine, handed to the task of its field."""

    @strawberry.field
    def first(self) -> Leaf:
        return Leaf()

    @strawberry.field
    def second(self) -> Leaf:
        return Leaf()

    @strawberry.field
    def leaves(self) -> list[Leaf]:
        return [Leaf(), Leaf(), Leaf()]


@strawberry.type
class Query:
    @strawberry.field
    async def broken(self) -> str:
        raise ValueError("broken")

    @strawberry.field
    async def branch(self) -> Branch | None:
        # One step: `broken` fails meanwhile, and graphql-core cancels this field's
        # task just after it started the tasks of `first` and `second`.
        await asyncio.sleep(0)
        return Branch()

    @strawberry.field
    async def slow_branch(self, steps: int) -> Branch | None:
        for _ in range(steps):
            await asyncio.sleep(0)
        return Branch()


EXECUTORS = {"compiled": CompiledExecutionContext, "graphql-core": None}


class _Schema(strawberry.Schema):
    def process_errors(self, errors: Any, execution_context: Any = None) -> None:
        """Not logged: the error of `broken` is expected."""


def _schema(executor: str) -> strawberry.Schema:
    return _Schema(Query, execution_context_class=EXECUTORS[executor])


@contextmanager
def _nothing_left() -> Iterator[Leftovers]:
    with watch() as leftovers:
        yield leftovers
    assert not leftovers.problems()


@pytest.mark.parametrize("executor", EXECUTORS)
@pytest.mark.parametrize(
    "query",
    [
        "{ broken branch { first { value } second { value } } }",
        "{ broken branch { leaves { value } } }",
        "{ broken branch { first { value } leaves { value } } }",
    ],
)
async def test_a_failing_sibling_leaves_no_coroutine_unawaited(executor: str, query: str) -> None:
    schema = _schema(executor)
    with _nothing_left():
        result = await schema.execute(query)
        data, messages = result.data, [error.message for error in result.errors or []]
        del result  # its errors' tracebacks hold the executor's frames
        await asyncio.sleep(0.01)
    assert data is None
    assert messages == ["broken"]


@pytest.mark.parametrize("executor", EXECUTORS)
async def test_a_cancelled_operation_leaves_no_coroutine_unawaited(executor: str) -> None:
    """The request's deadline cancels the operation wherever it is: after each step of
    the event loop in turn here (graphql-core's executor takes 14 for this query)."""
    schema = _schema(executor)
    query = "{ a: slowBranch(steps: 1) { first { value } second { value } leaves { value } } "
    query += "b: slowBranch(steps: 2) { leaves { value } } }"
    finished = await schema.execute(query)
    assert finished.errors is None
    with _nothing_left():
        for steps in range(20):
            task = asyncio.ensure_future(schema.execute(query))
            for _ in range(steps):
                await asyncio.sleep(0)
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
            del task
        await asyncio.sleep(0.01)
