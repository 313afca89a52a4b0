"""Users and the viewer."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from sqlalchemy import case

from models import User as UserModel
from resolvers import users as user_resolvers
from resolvers.doctors import DoctorByUserIdLoader
from resolvers.goals import OWNER_GOALS
from resolvers.notifications import UNREAD_NOTIFICATIONS, VIEWER_NOTIFICATIONS
from resolvers.users import UserByIdLoader, user_by
from schema.connections import After, Connection, First, connection_from_page
from schema.engine.look_ahead import GraphQLInfo
from schema.engine.sql_json import sql_field, sql_row
from schema.enums import AppRole
from schema.ids import format_id, parse_id
from schema.mutation_results import NotAllowed, NotFoundError, ValidationError, mutation_result
from schema.node import Node, register_node

if TYPE_CHECKING:
    from schema.doctors import Doctor
    from schema.goals import Goal, GoalStatus
    from schema.notifications import Notification


@strawberry.type(
    description="A person with an account. Contact fields are null for viewers who may "
    "not see them (a coach sees names only; a doctor sees their own patients' contact)."
)
class User(Node):
    id: strawberry.ID = strawberry.field(description="User id (the auth `sub`).")
    full_name: str = strawberry.field(description="Display name.")
    email: str | None = strawberry.field(description="Email, for those allowed to see it.")
    phone: str | None = strawberry.field(description="Phone, for those allowed to see it.")
    timezone: str = strawberry.field(description="IANA time zone, e.g. Europe/Berlin.")
    avatar_url: str | None = strawberry.field(description="Avatar image URL.")
    created_at: datetime = strawberry.field(description="When the account was created.")
    row: strawberry.Private[UserModel]

    @classmethod
    def from_visible(cls, visible: user_resolvers.VisibleUser) -> User:
        user = visible.user
        contact = visible.contact_visible
        return cls(
            id=format_id("User", user.id),
            full_name=user.full_name,
            email=user.email if contact else None,
            phone=user.phone if contact else None,
            timezone=user.timezone,
            avatar_url=user.avatar_url,
            created_at=user.created_at,
            row=user,
        )

    @strawberry.field(description="The doctor profile this user owns, if visible.")
    async def doctor(
        self, info: GraphQLInfo
    ) -> Annotated[Doctor, strawberry.lazy("schema.doctors")] | None:
        from schema.doctors import Doctor

        row = await info.context.loaders.get(DoctorByUserIdLoader).load(self.row.id)
        return Doctor.from_model(row) if row is not None else None

    @strawberry.field(
        description="This user's goals that the viewer may read (the goals policy), newest "
        "first. `first` defaults to 20, max 100.",
        metadata=sql_field(OWNER_GOALS),
    )
    async def goals(
        self,
        info: GraphQLInfo,
        status: Annotated[
            Annotated[GoalStatus, strawberry.lazy("schema.goals")] | None,
            strawberry.argument(description="Only goals in this status."),
        ] = None,
        first: First = None,
        after: After = None,
    ) -> Connection[Annotated[Goal, strawberry.lazy("schema.goals")]]:
        from schema.goals import user_goals

        return await user_goals(info, self.row.id, status, first, after)


@strawberry.type(description="The signed-in caller of this request.")
class Viewer(Node):
    id: strawberry.ID = strawberry.field(description="The viewer's user id.")
    email: str | None = strawberry.field(description="Email from the account.")
    roles: list[AppRole] = strawberry.field(description="App roles, from `user_roles`.")
    user_id: strawberry.Private[uuid.UUID]

    @strawberry.field(
        description="The viewer's own user record.", metadata=sql_field(user_by("user_id"))
    )
    async def user(self, info: GraphQLInfo) -> User | None:
        visible = await user_resolvers.get_user(info.context, self.user_id)
        return User.from_visible(visible) if visible is not None else None

    @strawberry.field(description="The viewer's doctor profile, when they are a doctor.")
    async def doctor(
        self, info: GraphQLInfo
    ) -> Annotated[Doctor, strawberry.lazy("schema.doctors")] | None:
        from schema.doctors import Doctor

        row = await info.context.loaders.get(DoctorByUserIdLoader).load(self.user_id)
        return Doctor.from_model(row) if row is not None else None

    @strawberry.field(
        description="The viewer's notifications, newest first.",
        metadata=sql_field(VIEWER_NOTIFICATIONS),
    )
    async def notifications(
        self,
        info: GraphQLInfo,
        first: First = None,
        after: After = None,
        unread_only: Annotated[
            bool, strawberry.argument(description="Only those not marked read.")
        ] = False,
    ) -> Connection[Annotated[Notification, strawberry.lazy("schema.notifications")]]:
        from schema.notifications import inbox

        return await inbox(info, first, after, unread_only)

    @strawberry.field(
        description="How many of the viewer's notifications are unread.",
        metadata=sql_field(UNREAD_NOTIFICATIONS),
    )
    async def unread_notification_count(self, info: GraphQLInfo) -> int:
        from schema.notifications import unread_count

        return await unread_count(info)


def viewer_of(info: GraphQLInfo) -> Viewer | None:
    viewer = info.context.viewer
    if viewer.user_id is None:
        return None
    return Viewer(
        id=format_id("Viewer", viewer.user_id),
        email=viewer.email,
        user_id=viewer.user_id,
        roles=sorted((AppRole(role) for role in viewer.app_roles), key=lambda r: r.name),
    )


def _own_viewer(info: GraphQLInfo, visible: user_resolvers.VisibleUser) -> Viewer | None:
    """`node(id)` of a Viewer id: the caller's own, never another's."""
    return viewer_of(info) if visible.user.id == info.context.viewer.user_id else None


@strawberry.type
class UsersQuery:
    @strawberry.field(description="The signed-in caller; null for anonymous requests.")
    def viewer(self, info: GraphQLInfo) -> Viewer | None:
        return viewer_of(info)

    @strawberry.field(
        description="Front desk (staff) and admins: find patients by name, email or phone "
        "(any part, any case), by name. Others get FORBIDDEN."
    )
    async def patients(
        self,
        info: GraphQLInfo,
        search: Annotated[
            str | None, strawberry.argument(description="Part of a name, email or phone.")
        ] = None,
        first: First = None,
        after: After = None,
    ) -> Connection[User]:
        page = await user_resolvers.search_patients(info.context, search, first=first, after=after)
        return connection_from_page(
            page, lambda row: User.from_visible(user_resolvers.found_patient(row))
        )

    @strawberry.field(description="A user by id; null when absent or not visible to the viewer.")
    async def user(
        self,
        info: GraphQLInfo,
        id: Annotated[strawberry.ID, strawberry.argument(description="The id.")],
    ) -> User | None:
        visible = await user_resolvers.get_user(info.context, parse_id(id, of="User"))
        return User.from_visible(visible) if visible is not None else None


@strawberry.input(description="Changes to the viewer's own profile; omitted fields stay.")
class UpdateViewerProfileInput:
    full_name: str | None = strawberry.field(default=None, description="Display name.")
    phone: str | None = strawberry.field(
        default=None, description="Phone in international format; empty string clears it."
    )
    timezone: str | None = strawberry.field(default=None, description="IANA time zone.")
    avatar_url: str | None = strawberry.field(
        default=None, description="Avatar URL; empty string clears it."
    )


@strawberry.type(description="The viewer's profile was saved.")
class ViewerProfileUpdated:
    user: User = strawberry.field(description="The updated user.")


UpdateViewerProfileResult = Annotated[
    ViewerProfileUpdated | ValidationError | NotAllowed | NotFoundError,
    strawberry.union("UpdateViewerProfileResult", description="Result of updateViewerProfile."),
]


@strawberry.type
class UsersMutation:
    @strawberry.mutation(description="Update the signed-in user's own profile.")
    async def update_viewer_profile(
        self,
        info: GraphQLInfo,
        input: Annotated[UpdateViewerProfileInput, strawberry.argument(description="The input.")],
    ) -> UpdateViewerProfileResult:
        return await mutation_result(
            lambda: user_resolvers.update_viewer_profile(
                info.context,
                user_resolvers.ProfileChanges(
                    full_name=input.full_name,
                    phone=input.phone,
                    timezone=input.timezone,
                    avatar_url=input.avatar_url,
                ),
            ),
            lambda visible: ViewerProfileUpdated(user=User.from_visible(visible)),
        )


register_node("User", UserByIdLoader, lambda _info, row: User.from_visible(row))
register_node("Viewer", UserByIdLoader, _own_viewer)

sql_row(
    User,
    UserModel,
    ids={"id": ("User", "id")},
    computed={
        "email": lambda row: case((row.contact_visible, row.email)),
        "phone": lambda row: case((row.contact_visible, row.phone)),
    },
)
