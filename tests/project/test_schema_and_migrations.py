"""The committed SDL matches the code; the models match the migrations."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from models import Base
from resolvers.core.database import Database
from server import ROOT, alembic_config, export_schema_sdl


def test_committed_schema_graphql_matches_the_code() -> None:
    committed = (Path(ROOT) / "schema.graphql").read_text()
    assert committed == export_schema_sdl(), (
        "schema.graphql is stale: run `python server.py export-schema --output schema.graphql`"
    )


def test_every_type_and_field_has_a_description() -> None:
    from graphql import (
        GraphQLEnumType,
        GraphQLInputObjectType,
        GraphQLInterfaceType,
        GraphQLObjectType,
        GraphQLScalarType,
        GraphQLUnionType,
    )

    from schema import schema

    missing = []
    for name, graphql_type in schema._schema.type_map.items():
        if name.startswith("__"):
            continue
        if not graphql_type.description:
            missing.append(name)
        if isinstance(
            graphql_type, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType
        ):
            for field_name, field in graphql_type.fields.items():
                if not field.description:
                    missing.append(f"{name}.{field_name}")
        else:
            assert isinstance(
                graphql_type, GraphQLEnumType | GraphQLUnionType | GraphQLScalarType
            ), name
    assert missing == []


async def test_models_and_migrations_agree(db: Database) -> None:
    def compare(connection: object) -> list[object]:
        context = MigrationContext.configure(
            connection,  # type: ignore[arg-type]
            # pgqueuer's tables (migration 0018) are the library's, not models of ours.
            opts={"include_name": lambda name, _kind, _parents: not str(name).startswith("pgq")},
        )
        return list(compare_metadata(context, Base.metadata))

    async with db.engine.connect() as conn:
        diff = await conn.run_sync(compare)
    assert diff == []


async def test_database_is_at_the_latest_migration(db: Database, database_url: str) -> None:
    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    async with db.engine.connect() as conn:
        current = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    assert current == head
