"""Accounts, for admins: app roles, deactivation, doctor onboarding and the user list."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import strawberry

from resolvers import accounts as account_resolvers
from resolvers.users import found_patient
from schema.connections import After, Connection, First, connection_from_page
from schema.doctors import Doctor
from schema.engine.look_ahead import GraphQLInfo
from schema.enums import AppRole
from schema.ids import parse_id, parse_optional_id
from schema.mutation_results import NotAllowed, NotFoundError, ValidationError, mutation_result
from schema.users import User


@strawberry.input(description="An app role to grant to or revoke from a user.")
class RoleInput:
    user_id: strawberry.ID = strawberry.field(description="The user.")
    role: AppRole = strawberry.field(
        description="COACH, STAFF or ADMIN (every user is a PATIENT; a DOCTOR has a profile)."
    )


@strawberry.type(description="The user's roles were changed; in effect from their next request.")
class RolesChanged:
    user: User = strawberry.field(description="The user.")
    roles: list[AppRole] = strawberry.field(description="The user's app roles now.")


RoleResult = Annotated[
    RolesChanged | ValidationError | NotAllowed | NotFoundError,
    strawberry.union("RoleResult", description="Result of grantRole / revokeRole."),
]


@strawberry.input(description="An account to deactivate.")
class DeactivateUserInput:
    user_id: strawberry.ID = strawberry.field(description="The user.")


@strawberry.type(description="The account is deactivated: its tokens get 401 from now on.")
class UserDeactivated:
    user: User = strawberry.field(description="The user (their history stays).")


DeactivateUserResult = Annotated[
    UserDeactivated | ValidationError | NotAllowed | NotFoundError,
    strawberry.union("DeactivateUserResult", description="Result of deactivateUser."),
]


@strawberry.input(description="A new doctor profile, for an existing user or a new one.")
class CreateDoctorInput:
    user_id: strawberry.ID | None = strawberry.field(
        default=None, description="An existing user (give this or `email`)."
    )
    email: str | None = strawberry.field(
        default=None, description="A new or existing user's email (give this or `userId`)."
    )
    full_name: str = strawberry.field(description="Name shown in the directory.")
    specialties: list[str] = strawberry.field(default_factory=list, description="Specialties.")
    languages: list[str] = strawberry.field(default_factory=list, description="Languages.")
    timezone: str = strawberry.field(default="UTC", description="IANA time zone.")
    currency: str = strawberry.field(default="USD", description="ISO 4217 currency of fees.")
    fee_standard: Decimal = strawberry.field(default=Decimal("0"), description="Standard fee.")
    fee_followup: Decimal = strawberry.field(default=Decimal("0"), description="Follow-up fee.")


@strawberry.type(description="The doctor profile was created, not verified yet.")
class DoctorCreated:
    doctor: Doctor = strawberry.field(description="The profile (`verifyDoctor` publishes it).")


CreateDoctorResult = Annotated[
    DoctorCreated | ValidationError | NotAllowed | NotFoundError,
    strawberry.union("CreateDoctorResult", description="Result of createDoctor."),
]


def _roles_changed(changed: account_resolvers.AccountRoles) -> RolesChanged:
    return RolesChanged(
        user=User.from_visible(found_patient(changed.user)),
        roles=[AppRole(role) for role in changed.roles],
    )


@strawberry.type
class AccountsQuery:
    @strawberry.field(
        description="Admins: every account, by name, optionally by name/email/phone (any "
        "part, any case) and role. Others get FORBIDDEN."
    )
    async def users(
        self,
        info: GraphQLInfo,
        search: Annotated[
            str | None, strawberry.argument(description="Part of a name, email or phone.")
        ] = None,
        role: Annotated[
            AppRole | None, strawberry.argument(description="Only holders of this role.")
        ] = None,
        first: First = None,
        after: After = None,
    ) -> Connection[User]:
        page = await account_resolvers.list_users(
            info.context,
            search,
            role.value if role is not None else None,
            first=first,
            after=after,
        )
        return connection_from_page(page, lambda row: User.from_visible(found_patient(row)))


@strawberry.type
class AccountsMutation:
    @strawberry.mutation(description="Admins: grant an app role (from the user's next request).")
    async def grant_role(
        self,
        info: GraphQLInfo,
        input: Annotated[RoleInput, strawberry.argument(description="The input.")],
    ) -> RoleResult:
        return await mutation_result(
            lambda: account_resolvers.grant_role(
                info.context, parse_id(input.user_id, "userId", of="User"), input.role.value
            ),
            _roles_changed,
        )

    @strawberry.mutation(
        description="Admins: revoke an app role (from the user's next request); the last "
        "admin keeps theirs."
    )
    async def revoke_role(
        self,
        info: GraphQLInfo,
        input: Annotated[RoleInput, strawberry.argument(description="The input.")],
    ) -> RoleResult:
        return await mutation_result(
            lambda: account_resolvers.revoke_role(
                info.context, parse_id(input.user_id, "userId", of="User"), input.role.value
            ),
            _roles_changed,
        )

    @strawberry.mutation(
        description="Admins: deactivate an account; its tokens get 401 from now on, its "
        "history stays. The last admin cannot be deactivated."
    )
    async def deactivate_user(
        self,
        info: GraphQLInfo,
        input: Annotated[DeactivateUserInput, strawberry.argument(description="The input.")],
    ) -> DeactivateUserResult:
        return await mutation_result(
            lambda: account_resolvers.deactivate_user(
                info.context, parse_id(input.user_id, "userId", of="User")
            ),
            lambda user: UserDeactivated(user=User.from_visible(found_patient(user))),
        )

    @strawberry.mutation(
        description="Admins: create a doctor profile for an existing user or a new one by "
        "email; unverified (not in the directory) until `verifyDoctor`."
    )
    async def create_doctor(
        self,
        info: GraphQLInfo,
        input: Annotated[CreateDoctorInput, strawberry.argument(description="The input.")],
    ) -> CreateDoctorResult:
        return await mutation_result(
            lambda: account_resolvers.create_doctor(
                info.context,
                parse_optional_id(input.user_id, "userId", of="User"),
                input.email,
                account_resolvers.DoctorProfile(
                    full_name=input.full_name,
                    specialties=input.specialties,
                    languages=input.languages,
                    timezone=input.timezone,
                    currency=input.currency,
                    fee_standard=input.fee_standard,
                    fee_followup=input.fee_followup,
                ),
            ),
            lambda row: DoctorCreated(doctor=Doctor.from_model(row)),
        )
