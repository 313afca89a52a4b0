"""Weekly availability rules and dated exceptions."""

from __future__ import annotations

from datetime import date, time
from typing import Annotated

import strawberry

from models import AvailabilityException as ExceptionModel
from models import DoctorAvailability
from resolvers import availability as availability_resolvers
from resolvers.availability import AvailabilityExceptionByIdLoader, AvailabilityRuleByIdLoader
from resolvers.core.errors import CaregraphError
from schema.engine.look_ahead import GraphQLInfo
from schema.enums import ExceptionKind
from schema.ids import format_id, parse_id, parse_optional_id
from schema.mutation_results import (
    NotAllowed,
    NotFoundError,
    ValidationError,
    deleted_id_field,
    deprecated_id_field,
    mutation_result,
    user_error,
)
from schema.node import Node, register_node


@strawberry.type(description="A weekly rule: on a weekday, between two local times.")
class AvailabilityRule(Node):
    id: strawberry.ID = strawberry.field(description="Rule id.")
    day_of_week: int = strawberry.field(description="0 = Sunday ... 6 = Saturday.")
    start_time: time = strawberry.field(description="Start, in the doctor's time zone.")
    end_time: time = strawberry.field(description="End, in the doctor's time zone.")
    slot_minutes: int = strawberry.field(description="Length of one appointment slot.")
    buffer_minutes: int = strawberry.field(description="Gap kept after each slot.")
    max_patients_per_day: int | None = strawberry.field(
        description="Cap on appointments that day; null means no cap."
    )
    active: bool = strawberry.field(description="Inactive rules are kept but not bookable.")

    @classmethod
    def from_model(cls, rule: DoctorAvailability) -> AvailabilityRule:
        return cls(
            id=format_id("AvailabilityRule", rule.id),
            day_of_week=rule.day_of_week,
            start_time=rule.start_time,
            end_time=rule.end_time,
            slot_minutes=rule.slot_minutes,
            buffer_minutes=rule.buffer_minutes,
            max_patients_per_day=rule.max_patients_per_day,
            active=rule.active,
        )


@strawberry.type(description="A date when the weekly rules do not apply.")
class AvailabilityException(Node):
    id: strawberry.ID = strawberry.field(description="Exception id.")
    doctor_id: strawberry.ID = strawberry.field(description="The doctor it belongs to.")
    date: date = strawberry.field(description="The local date it applies to.")
    kind: ExceptionKind = strawberry.field(description="Blocked day or custom hours.")
    start_time: time | None = strawberry.field(description="Custom hours start (local).")
    end_time: time | None = strawberry.field(description="Custom hours end (local).")
    reason: str = strawberry.field(description="Why, e.g. a holiday.")

    @classmethod
    def from_model(cls, row: ExceptionModel) -> AvailabilityException:
        return cls(
            id=format_id("AvailabilityException", row.id),
            doctor_id=format_id("Doctor", row.doctor_id),
            date=row.date,
            kind=ExceptionKind(row.kind),
            start_time=row.start_time,
            end_time=row.end_time,
            reason=row.reason,
        )


@strawberry.input(description="One weekly rule.")
class AvailabilityRuleInput:
    day_of_week: int = strawberry.field(description="0 = Sunday ... 6 = Saturday.")
    start_time: time = strawberry.field(description="Start, local time (HH:MM:SS).")
    end_time: time = strawberry.field(description="End, local time, after start.")
    slot_minutes: int = strawberry.field(default=30, description="Slot length, 5 to 480.")
    buffer_minutes: int = strawberry.field(default=0, description="Gap after slots, 0 to 240.")
    max_patients_per_day: int | None = strawberry.field(
        default=None, description="Daily cap, or null for none."
    )
    active: bool = strawberry.field(default=True, description="Whether it is bookable.")


@strawberry.input(description="Replace a doctor's weekly rules.")
class SetAvailabilityRulesInput:
    doctor_id: strawberry.ID | None = strawberry.field(
        default=None, description="Admins: the doctor. Doctors: omit for their own."
    )
    rules: list[AvailabilityRuleInput] = strawberry.field(
        description="The complete new set; rules of one day must not overlap."
    )


@strawberry.type(description="The weekly rules were replaced.")
class AvailabilityRulesSet:
    doctor_id: strawberry.ID = strawberry.field(description="The doctor.")
    rules: list[AvailabilityRule] = strawberry.field(description="The new rules.")


SetAvailabilityRulesResult = Annotated[
    AvailabilityRulesSet | ValidationError | NotAllowed | NotFoundError,
    strawberry.union("SetAvailabilityRulesResult", description="Result of setAvailabilityRules."),
]


@strawberry.input(description="Block a date or give it custom hours.")
class AddAvailabilityExceptionInput:
    doctor_id: strawberry.ID | None = strawberry.field(
        default=None, description="Admins: the doctor. Doctors: omit for their own."
    )
    date: date = strawberry.field(description="The local date.")
    kind: ExceptionKind = strawberry.field(description="BLOCKED or CUSTOM_HOURS.")
    start_time: time | None = strawberry.field(
        default=None, description="Custom hours start; only for CUSTOM_HOURS."
    )
    end_time: time | None = strawberry.field(
        default=None, description="Custom hours end; only for CUSTOM_HOURS."
    )
    reason: str = strawberry.field(default="", description="Why (up to 500 characters).")


@strawberry.type(description="The exception was added.")
class AvailabilityExceptionAdded:
    exception: AvailabilityException = strawberry.field(description="The new exception.")


AddAvailabilityExceptionResult = Annotated[
    AvailabilityExceptionAdded | ValidationError | NotAllowed | NotFoundError,
    strawberry.union(
        "AddAvailabilityExceptionResult", description="Result of addAvailabilityException."
    ),
]


@strawberry.input(description="Remove an availability exception.")
class RemoveAvailabilityExceptionInput:
    id: strawberry.ID = strawberry.field(description="The exception to remove.")


@strawberry.type(description="The exception was removed.")
class AvailabilityExceptionRemoved:
    id: strawberry.ID = deprecated_id_field("Id of the removed exception.")
    deleted_id: strawberry.ID = deleted_id_field("Id of the removed exception.")


RemoveAvailabilityExceptionResult = Annotated[
    AvailabilityExceptionRemoved | ValidationError | NotAllowed | NotFoundError,
    strawberry.union(
        "RemoveAvailabilityExceptionResult", description="Result of removeAvailabilityException."
    ),
]


@strawberry.type
class AvailabilityMutation:
    @strawberry.mutation(
        description="Replace a doctor's weekly rules (own, or any for admins), all or nothing."
    )
    async def set_availability_rules(
        self,
        info: GraphQLInfo,
        input: Annotated[SetAvailabilityRulesInput, strawberry.argument(description="The input.")],
    ) -> SetAvailabilityRulesResult:
        try:
            doctor_id = parse_optional_id(input.doctor_id, "doctorId", of="Doctor")
            rules = await availability_resolvers.set_availability_rules(
                info.context,
                doctor_id,
                [
                    availability_resolvers.RuleSpec(
                        day_of_week=rule.day_of_week,
                        start_time=rule.start_time,
                        end_time=rule.end_time,
                        slot_minutes=rule.slot_minutes,
                        buffer_minutes=rule.buffer_minutes,
                        max_patients_per_day=rule.max_patients_per_day,
                        active=rule.active,
                    )
                    for rule in input.rules
                ],
            )
        except CaregraphError as error:
            return user_error(error)
        target = doctor_id or info.context.viewer.doctor_id
        assert target is not None  # set_rules refused a viewer without a doctor profile
        return AvailabilityRulesSet(
            doctor_id=format_id("Doctor", target),
            rules=[AvailabilityRule.from_model(rule) for rule in rules],
        )

    @strawberry.mutation(description="Block a date or set custom hours for it.")
    async def add_availability_exception(
        self,
        info: GraphQLInfo,
        input: Annotated[
            AddAvailabilityExceptionInput, strawberry.argument(description="The input.")
        ],
    ) -> AddAvailabilityExceptionResult:
        return await mutation_result(
            lambda: availability_resolvers.add_availability_exception(
                info.context,
                parse_optional_id(input.doctor_id, "doctorId", of="Doctor"),
                availability_resolvers.ExceptionSpec(
                    date=input.date,
                    kind=input.kind.value,
                    start_time=input.start_time,
                    end_time=input.end_time,
                    reason=input.reason,
                ),
            ),
            lambda row: AvailabilityExceptionAdded(exception=AvailabilityException.from_model(row)),
        )

    @strawberry.mutation(description="Remove an availability exception.")
    async def remove_availability_exception(
        self,
        info: GraphQLInfo,
        input: Annotated[
            RemoveAvailabilityExceptionInput, strawberry.argument(description="The input.")
        ],
    ) -> RemoveAvailabilityExceptionResult:
        return await mutation_result(
            lambda: availability_resolvers.remove_availability_exception(
                info.context, parse_id(input.id, of="AvailabilityException")
            ),
            lambda removed: AvailabilityExceptionRemoved(
                id=format_id("AvailabilityException", removed)
            ),
        )


register_node(
    "AvailabilityRule",
    AvailabilityRuleByIdLoader,
    lambda _info, row: AvailabilityRule.from_model(row),
)
register_node(
    "AvailabilityException",
    AvailabilityExceptionByIdLoader,
    lambda _info, row: AvailabilityException.from_model(row),
)
