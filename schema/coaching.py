"""Coach-client links (seed 002): admins assign clients to coaches; a coach then reads
the goals of their assigned clients, and no one else's."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from models import CoachClient as CoachClientModel
from resolvers import coaching as coaching_resolvers
from resolvers.coaching import CoachClientByIdLoader
from resolvers.users import UserByIdLoader
from schema.connections import After, Connection, First, connection_from_page
from schema.engine.look_ahead import GraphQLInfo
from schema.ids import format_id, parse_id
from schema.mutation_results import NotAllowed, NotFoundError, ValidationError, mutation_result
from schema.node import Node, register_node
from schema.users import User


@strawberry.type(description="A client assigned to a coach: the coach reads their goals.")
class CoachClient(Node):
    id: strawberry.ID = strawberry.field(description="Link id.")
    assigned_at: datetime = strawberry.field(description="When the client was assigned.")
    row: strawberry.Private[CoachClientModel]

    @classmethod
    def from_model(cls, row: CoachClientModel) -> CoachClient:
        return cls(row=row, id=format_id("CoachClient", row.id), assigned_at=row.created_at)

    @strawberry.field(description="The coach, where the users policy lets the viewer see them.")
    async def coach(self, info: GraphQLInfo) -> User | None:
        visible = await info.context.loaders.get(UserByIdLoader).load(self.row.coach_id)
        return User.from_visible(visible) if visible is not None else None

    @strawberry.field(description="The client, where the users policy lets the viewer see them.")
    async def client(self, info: GraphQLInfo) -> User | None:
        visible = await info.context.loaders.get(UserByIdLoader).load(self.row.client_id)
        return User.from_visible(visible) if visible is not None else None


@strawberry.input(description="A coach and a client.")
class CoachClientInput:
    coach_id: strawberry.ID = strawberry.field(description="The coach (a user with the role).")
    client_id: strawberry.ID = strawberry.field(description="The client (any user).")


@strawberry.type(description="The client is assigned to the coach (or already was).")
class CoachAssigned:
    link: CoachClient = strawberry.field(description="The link.")


@strawberry.type(description="The client is no longer assigned to the coach.")
class CoachUnassigned:
    deleted_id: strawberry.ID = strawberry.field(description="Id of the removed link.")


AssignCoachResult = Annotated[
    CoachAssigned | ValidationError | NotAllowed | NotFoundError,
    strawberry.union("AssignCoachResult", description="Result of assignCoach."),
]
UnassignCoachResult = Annotated[
    CoachUnassigned | ValidationError | NotAllowed | NotFoundError,
    strawberry.union("UnassignCoachResult", description="Result of unassignCoach."),
]


@strawberry.type
class CoachingQuery:
    @strawberry.field(
        description="Coach-client links the viewer may see: admins all, a coach their "
        "clients, a client their coaches. Newest first."
    )
    async def coaching_links(
        self, info: GraphQLInfo, first: First = None, after: After = None
    ) -> Connection[CoachClient]:
        page = await coaching_resolvers.coaching_links(info.context, first=first, after=after)
        return connection_from_page(page, CoachClient.from_model)


@strawberry.type
class CoachingMutation:
    @strawberry.mutation(description="Admins: assign a client to a coach.")
    async def assign_coach(
        self,
        info: GraphQLInfo,
        input: Annotated[CoachClientInput, strawberry.argument(description="The input.")],
    ) -> AssignCoachResult:
        return await mutation_result(
            lambda: coaching_resolvers.assign_coach(
                info.context,
                parse_id(input.coach_id, "coachId", of="User"),
                parse_id(input.client_id, "clientId", of="User"),
            ),
            lambda row: CoachAssigned(link=CoachClient.from_model(row)),
        )

    @strawberry.mutation(description="Admins: end a client's assignment to a coach.")
    async def unassign_coach(
        self,
        info: GraphQLInfo,
        input: Annotated[CoachClientInput, strawberry.argument(description="The input.")],
    ) -> UnassignCoachResult:
        return await mutation_result(
            lambda: coaching_resolvers.unassign_coach(
                info.context,
                parse_id(input.coach_id, "coachId", of="User"),
                parse_id(input.client_id, "clientId", of="User"),
            ),
            lambda removed: CoachUnassigned(deleted_id=format_id("CoachClient", removed)),
        )


register_node("CoachClient", CoachClientByIdLoader, lambda _info, row: CoachClient.from_model(row))
