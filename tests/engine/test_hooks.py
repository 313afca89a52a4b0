"""`HookRunner` runs extension hooks as strawberry's own runner does: the same order,
the same results, the same exceptions (schema/engine/hooks.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import strawberry
from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.types import ExecutionContext

from schema.engine.hooks import HookRunner


class Boom(Exception):
    pass


class Other(Exception):
    pass


def _recording(name: str, log: list[str], *, on_exit: str = "pass") -> type[SchemaExtension]:
    class Recording(SchemaExtension):
        def on_operation(self) -> Iterator[None]:
            log.append(f"{name} enter")
            try:
                yield
            except Boom:
                log.append(f"{name} saw Boom")
                if on_exit == "suppress":
                    return
                if on_exit == "replace":
                    raise Other(name) from None
                raise
            log.append(f"{name} exit")

        def on_execute(self) -> Iterator[None]:
            if on_exit == "fail on enter":
                raise Boom(name)
            log.append(f"{name} execute")
            yield

        def get_results(self) -> dict[str, Any]:
            return {name: True}

    return Recording


@strawberry.type
class Query:
    ping: str = "pong"


SCHEMA = strawberry.Schema(query=Query)


async def _run(
    runner_class: type[SchemaExtensionsRunner], behaviours: list[str], raise_inside: bool
) -> tuple[list[str], str | None, dict[str, Any]]:
    log: list[str] = []
    context = ExecutionContext(query="{ ping }", schema=SCHEMA, allowed_operations=())
    extensions = [
        _recording(f"e{i}", log, on_exit=behaviour)() for i, behaviour in enumerate(behaviours)
    ]
    for extension in extensions:
        extension.execution_context = context
    runner = runner_class(context, extensions)
    outcome = None
    try:
        async with runner.operation():
            async with runner.executing():
                log.append("body")
            if raise_inside:
                raise Boom("body")
    except Exception as error:
        outcome = f"{type(error).__name__}({error})"
    return log, outcome, await runner.get_extensions_results(context)


@pytest.mark.parametrize(
    "behaviours",
    [
        ["pass", "pass", "pass"],
        ["pass", "suppress", "pass"],
        ["suppress", "pass", "replace"],
        ["replace", "pass", "pass"],
        ["pass", "fail on enter", "pass"],
    ],
)
@pytest.mark.parametrize("raise_inside", [False, True])
async def test_hook_runner_matches_strawberry(behaviours: list[str], raise_inside: bool) -> None:
    expected = await _run(SchemaExtensionsRunner, behaviours, raise_inside)
    assert await _run(HookRunner, behaviours, raise_inside) == expected


async def test_async_hooks_go_through_strawberry() -> None:
    log: list[str] = []

    class AsyncHook(SchemaExtension):
        async def on_operation(self) -> AsyncIterator[None]:
            log.append("enter")
            yield
            log.append("exit")

    context = ExecutionContext(query="{ ping }", schema=SCHEMA, allowed_operations=())
    extension = AsyncHook()
    extension.execution_context = context
    async with HookRunner(context, [extension]).operation():
        log.append("body")
    assert log == ["enter", "body", "exit"]
