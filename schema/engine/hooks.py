"""Strawberry's extension hooks, run without its per-request machinery.

For every stage of every operation (operation, parsing, validation, execution)
strawberry's `SchemaExtensionsRunner` looks up each extension's hook again
(`getattr`, `inspect.isgeneratorfunction`), wraps each in a `contextlib` context manager
and enters them on an `ExitStack`; it also asks every extension for `get_results`. With
six extensions that was about a tenth of the server's CPU on a small query. `HookRunner`
finds the hooks once per set of extension classes and runs them as the plain generators
they are, with the same order and the same exception semantics; a stage with a hook of
another kind (an async generator, a plain function) goes through strawberry's runner.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator
from types import TracebackType
from typing import Any, Literal

from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.types import ExecutionContext
from strawberry.utils.await_maybe import await_maybe

_STAGES = ("on_operation", "on_parse", "on_validate", "on_execute")
_Hook = Callable[[SchemaExtension], Generator[None, None, None]]
_Plan = dict[str, list[tuple[_Hook, int]] | None]
"""Per stage: the hooks to run (function, index of its extension), or None when one of
them is not a plain generator function (strawberry's runner runs that stage)."""

_plans: dict[tuple[type[SchemaExtension], ...], tuple[_Plan, tuple[int, ...]]] = {}


def _plan(classes: tuple[type[SchemaExtension], ...]) -> tuple[_Plan, tuple[int, ...]]:
    """The hooks of each stage, and the extensions that override `get_results`."""
    kept = _plans.get(classes)
    if kept is not None:
        return kept
    plan: _Plan = {}
    for stage in _STAGES:
        default = getattr(SchemaExtension, stage)
        hooks: list[tuple[_Hook, int]] | None = []
        for index, extension_class in enumerate(classes):
            hook = getattr(extension_class, stage)
            if hook is default:
                continue
            if not inspect.isgeneratorfunction(hook):
                hooks = None
                break
            assert hooks is not None
            hooks.append((hook, index))
        plan[stage] = hooks
    results = tuple(
        index
        for index, extension_class in enumerate(classes)
        if extension_class.get_results is not SchemaExtension.get_results
    )
    if len(_plans) >= 64:  # schemas are few; guard against a class per request
        _plans.clear()
    _plans[classes] = (plan, results)
    return plan, results


class _Stage:
    """One stage's hooks: each runs to its `yield` on entry, in order, and resumes in
    reverse order on exit, with the block's exception thrown into it; one that raises
    another exception passes that on to the hooks before it and out of the block, one
    that returns spares the hooks before it (as strawberry's runner, whose `ExitStack`
    of `contextmanager` hooks never suppresses the block's exception)."""

    __slots__ = ("_hooks", "_running")

    def __init__(self, hooks: list[tuple[_Hook, SchemaExtension]]) -> None:
        self._hooks = hooks
        self._running: list[Generator[None, None, None]] = []

    def __enter__(self) -> None:
        running = self._running
        for hook, extension in self._hooks:
            generator = hook(extension)
            try:
                next(generator)
            except StopIteration:
                raise RuntimeError(f"{hook.__qualname__} did not yield") from None
            except BaseException:
                # As with strawberry's runner, the hooks entered so far do not resume;
                # here they are closed rather than left to the garbage collector.
                for entered in reversed(running):
                    entered.close()
                raise
            running.append(generator)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> Literal[False]:
        pending = exc
        for generator in reversed(self._running):
            try:
                if pending is None:
                    next(generator)
                else:
                    generator.throw(pending)
            except StopIteration:
                pending = None  # finished; after a throw, it suppressed the exception
                continue
            except BaseException as error:  # its own exception, or the one thrown in
                pending = error
                continue
            generator.close()
            pending = RuntimeError("an extension hook yielded twice")
        self._running = []
        if pending is None or pending is exc:
            # A hook that suppressed the exception only spares the hooks before it: as
            # strawberry's runner does, the block's own exception goes on.
            return False
        raise pending

    async def __aenter__(self) -> None:
        self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> Literal[False]:
        return self.__exit__(exc_type, exc, traceback)


class HookRunner(SchemaExtensionsRunner):
    """`SchemaExtensionsRunner` with the hooks found once per set of extension classes."""

    def __init__(
        self,
        execution_context: ExecutionContext,
        extensions: list[SchemaExtension] | None = None,
    ) -> None:
        super().__init__(execution_context, extensions)
        self._plan, self._results = _plan(tuple(type(e) for e in self.extensions))

    def _stage(self, stage: str) -> _Stage | None:
        hooks = self._plan[stage]
        if hooks is None:
            return None
        extensions = self.extensions
        return _Stage([(hook, extensions[index]) for hook, index in hooks])

    def operation(self) -> Any:
        return self._stage("on_operation") or super().operation()

    def parsing(self) -> Any:
        return self._stage("on_parse") or super().parsing()

    def validation(self) -> Any:
        return self._stage("on_validate") or super().validation()

    def executing(self) -> Any:
        return self._stage("on_execute") or super().executing()

    async def get_extensions_results(self, ctx: ExecutionContext) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for index in self._results:
            data.update(await await_maybe(self.extensions[index].get_results()))
        data.update(ctx.extensions_results)
        return data
