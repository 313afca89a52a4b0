"""Validation results kept per document (replaces strawberry's `ValidationCache`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import DocumentNode, GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document


class DocumentValidationCache(SchemaExtension):
    """Validates each parsed document once.

    strawberry's `ValidationCache` keys an `lru_cache` on the document, which hashes
    every node of it again on each request (graphql-core does not keep node hashes). The
    parser cache hands out the same document object for the same query text, so the
    object itself is the key here, kept alive with its entry so its id is not reused."""

    _results: dict[tuple[int, int], tuple[DocumentNode, Any, list[GraphQLError]]] = {}
    max_documents = 512

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        schema = context.schema._schema
        document = context.graphql_document
        rules = context.validation_rules
        assert document is not None
        key = (id(schema), id(document))
        kept = self._results.get(key)
        if kept is not None and kept[0] is document and kept[1] == rules:
            errors = kept[2]
        else:
            errors = validate_document(schema, document, rules)
            if len(self._results) >= self.max_documents:
                self._results.clear()
            self._results[key] = (document, rules, errors)
        context.pre_execution_errors = list(errors)
        yield
