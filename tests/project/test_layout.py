"""The layout's import rules (ARCHITECTURE.md): imports flow server -> schema -> resolvers ->
models; the machinery (`resolvers/core`, `schema/engine`) never reaches into the domain
modules, the policies are reached only through their package, and the demo data stays out
of the request path."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from server import ROOT

ALLOWED: dict[str, set[str]] = {
    "models": {"models"},
    "resolvers.core": {"models", "resolvers.core", "resolvers.policies"},
    "resolvers.policies": {"models", "resolvers.core", "resolvers.policies"},
    "resolvers.<domain>": {
        "models",
        "resolvers.core",
        "resolvers.policies",
        "resolvers.<domain>",
    },
    "resolvers.demo": {"models", "resolvers.core", "resolvers.<domain>", "resolvers.demo"},
    "schema.engine": {"models", "resolvers.core", "schema.engine", "strawberry"},
    "schema.<domain>": {
        "models",
        "resolvers.core",
        "resolvers.policies",
        "resolvers.<domain>",
        "schema.engine",
        "schema.<domain>",
        "strawberry",
    },
}
OURS = ("models", "resolvers", "schema", "server", "strawberry")


def _group(module: str) -> str:
    parts = module.split(".")
    if parts[0] not in {"resolvers", "schema"}:
        return parts[0]
    if len(parts) > 1 and parts[1] in {"core", "policies", "demo", "engine"}:
        return f"{parts[0]}.{parts[1]}"
    return f"{parts[0]}.<domain>"


def _module_of(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            if node.module in {"resolvers", "schema"}:
                yield from (f"{node.module}.{alias.name}" for alias in node.names)
            else:
                yield node.module
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


SOURCES = sorted(
    path for package in ("models", "resolvers", "schema") for path in (ROOT / package).rglob("*.py")
)


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: str(path.relative_to(ROOT)))
def test_imports_follow_the_layout(path: Path) -> None:
    group = _group(_module_of(path))
    wrong = sorted(
        imported
        for imported in _imports(path)
        if imported.split(".")[0] in OURS and _group(imported) not in ALLOWED[group]
    )
    assert not wrong, f"{group} may not import {wrong}"


def test_the_rules_can_fail() -> None:
    assert _group("resolvers.core.loaders") == "resolvers.core"
    assert _group("resolvers.appointments") == "resolvers.<domain>"
    assert _group("schema.engine.http") == "schema.engine"
    assert "schema.<domain>" not in ALLOWED["schema.engine"]
    assert "resolvers.demo" not in ALLOWED["resolvers.<domain>"]
