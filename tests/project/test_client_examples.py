"""The README's typed-client example cannot rot: every operation in
`examples/client/operations.graphql` is valid against the committed schema, and the
codegen config names the schema and every custom scalar."""

from __future__ import annotations

import re

from graphql import GraphQLScalarType, OperationDefinitionNode, build_schema, parse, validate
from graphql.type import specified_scalar_types

from server import ROOT

EXAMPLES = ROOT / "examples" / "client"


def test_example_operations_are_valid_against_the_committed_schema() -> None:
    schema = build_schema((ROOT / "schema.graphql").read_text())
    document = parse((EXAMPLES / "operations.graphql").read_text())
    assert validate(schema, document) == []
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    assert len(operations) >= 5
    assert all(operation.name is not None for operation in operations)


def test_codegen_config_maps_every_custom_scalar() -> None:
    schema = build_schema((ROOT / "schema.graphql").read_text())
    custom = {
        name
        for name, type_ in schema.type_map.items()
        if isinstance(type_, GraphQLScalarType) and name not in specified_scalar_types
    }
    config = (EXAMPLES / "codegen.ts").read_text()
    scalars = re.search(r"scalars: \{([^}]*)\}", config)
    assert scalars is not None
    mapped = set(re.findall(r"(\w+): \"", scalars[1]))
    assert mapped == custom
    assert '"../../schema.graphql"' in config
