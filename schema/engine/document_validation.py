"""Document validation: graphql-core's rules, run once per parsed document (replaces
strawberry's `ValidationCache`), with the work of the costly rules bounded by the
document's size."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from graphql import DocumentNode, GraphQLError, OverlappingFieldsCanBeMergedRule, Token
from graphql.validation import ASTValidationRule, ValidationContext, validation_context
from graphql.validation.rules import overlapping_fields_can_be_merged as field_merging
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

WORK_PER_TOKEN = 32
"""How much field-merging and fragment work a document may cause for each of its
tokens (graphql-core counts a field comparison as 2). A document of hand-written
size stays far below it; past it, validation stops with "Validation aborted."."""
MIN_WORK = 20_000


def document_tokens(document: DocumentNode) -> int:
    """The number of lexical tokens of a parsed document."""
    if document.loc is None:
        return 0
    count = 0
    token: Token | None = document.loc.start_token
    while token is not None:
        count += 1
        token = token.next
    return count


def work_budget(document: DocumentNode) -> int:
    return max(MIN_WORK, WORK_PER_TOKEN * document_tokens(document))


class BoundedFieldMerging(OverlappingFieldsCanBeMergedRule):
    """graphql-core's "overlapping fields can be merged" rule compares the fields of a
    response name pairwise: a few thousand repeated fields cost seconds of CPU before its
    fixed budget (500,000 units) runs out. Here the budget, and the validation context's
    budget for work on shared fragments, are proportional to the document's size, so
    validating any document takes time linear in its size."""

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        budget = work_budget(context.document)
        self.rule_context.remaining_complexity_budget = min(
            budget, field_merging.MAX_COMPLEXITY_BUDGET
        )
        context._remaining_fragment_work = min(budget, validation_context.MAX_FRAGMENT_WORK)


def bounded_rules(
    rules: Sequence[type[ASTValidationRule]],
) -> tuple[type[ASTValidationRule], ...]:
    return tuple(
        BoundedFieldMerging if rule is OverlappingFieldsCanBeMergedRule else rule for rule in rules
    )


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
            errors = validate_document(schema, document, bounded_rules(rules))
            if len(self._results) >= self.max_documents:
                self._results.clear()
            self._results[key] = (document, rules, errors)
        context.pre_execution_errors = list(errors)
        yield
