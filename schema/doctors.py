"""Doctors: the directory, profiles, and their schedules."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, cast
from zoneinfo import ZoneInfo

import strawberry
from strawberry.scalars import JSON

from models import Doctor as DoctorModel
from resolvers import doctors as doctor_resolvers
from resolvers import slots as slot_resolvers
from resolvers.availability import (
    ExceptionKey,
    ExceptionsByDoctorIdLoader,
    RulesByDoctorIdLoader,
    exception_range,
)
from resolvers.core.errors import ValidationFailed
from resolvers.doctors import DoctorByIdLoader
from resolvers.users import UserByIdLoader
from schema.availability import AvailabilityException, AvailabilityRule
from schema.connections import After, Connection, First, OrderDirection, connection_from_page
from schema.engine.look_ahead import GraphQLInfo
from schema.engine.sql_json import sql_row
from schema.enums import AppointmentType
from schema.ids import format_id, parse_id, parse_optional_id
from schema.mutation_results import NotAllowed, NotFoundError, ValidationError, mutation_result
from schema.node import Node, register_node
from schema.users import User

if TYPE_CHECKING:
    from schema.appointments import Appointment, AppointmentFilter
    from schema.reviews import Review
    from schema.services import Service
    from schema.slots import AvailableSlot


@strawberry.type(description="A doctor's public profile.")
class Doctor(Node):
    id: strawberry.ID = strawberry.field(description="Doctor id.")
    full_name: str = strawberry.field(description="Name as shown to patients.")
    specialties: list[str] = strawberry.field(description="Specialties, e.g. Cardiology.")
    languages: list[str] = strawberry.field(description="Languages spoken.")
    bio: str = strawberry.field(description="Biography.")
    qualifications: JSON = strawberry.field(
        description="Degrees and certifications (list of objects)."
    )
    fee_standard: Decimal = strawberry.field(description="Fee for a standard consultation.")
    fee_followup: Decimal = strawberry.field(description="Fee for a follow-up consultation.")
    currency: str = strawberry.field(description="ISO 4217 currency of the fees.")
    rating_avg: Decimal = strawberry.field(description="Average review rating, 0 to 5.")
    rating_count: int = strawberry.field(description="Number of reviews.")
    photo_url: str | None = strawberry.field(description="Profile photo URL.")
    verified: bool = strawberry.field(
        description="Verified by an admin; only verified doctors are public."
    )
    accepting_patients: bool = strawberry.field(description="Open for new bookings.")
    timezone: str = strawberry.field(description="IANA time zone of the schedule.")
    cancellation_policy_hours: int = strawberry.field(
        description="Patients may cancel up to this many hours before the start."
    )
    created_at: datetime = strawberry.field(description="When the profile was created.")
    updated_at: datetime = strawberry.field(description="When the profile last changed.")
    row: strawberry.Private[DoctorModel]

    @classmethod
    def from_model(cls, row: DoctorModel) -> Doctor:
        return cls(
            id=format_id("Doctor", row.id),
            full_name=row.full_name,
            specialties=list(row.specialties),
            languages=list(row.languages),
            bio=row.bio,
            qualifications=cast(JSON, row.qualifications),
            fee_standard=row.fee_standard,
            fee_followup=row.fee_followup,
            currency=row.currency,
            rating_avg=row.rating_avg,
            rating_count=row.rating_count,
            photo_url=row.photo_url,
            verified=row.verified,
            accepting_patients=row.accepting_patients,
            timezone=row.timezone,
            cancellation_policy_hours=row.cancellation_policy_hours,
            created_at=row.created_at,
            updated_at=row.updated_at,
            row=row,
        )

    @strawberry.field(
        description="Weekly rules, by weekday and start. Others see active rules only."
    )
    async def availability_rules(self, info: GraphQLInfo) -> list[AvailabilityRule]:
        rules = await info.context.loaders.get(RulesByDoctorIdLoader).load(self.row.id)
        return [AvailabilityRule.from_model(rule) for rule in rules]

    @strawberry.field(
        description="Exceptions between `from` and `to` (inclusive; default today + 90 days, "
        "at most 366 days)."
    )
    async def exceptions(
        self,
        info: GraphQLInfo,
        from_: Annotated[
            date | None, strawberry.argument(name="from", description="First date.")
        ] = None,
        to: Annotated[date | None, strawberry.argument(description="Last date.")] = None,
    ) -> list[AvailabilityException]:
        start, end = exception_range(from_, to, date.today())
        rows = await info.context.loaders.get(ExceptionsByDoctorIdLoader).load(
            ExceptionKey(self.row.id, start, end)
        )
        return [AvailabilityException.from_model(row) for row in rows]

    @strawberry.field(
        description="Services the doctor offers, defaults first: active ones (the doctor "
        "and admins may ask for inactive ones too)."
    )
    async def services(
        self,
        info: GraphQLInfo,
        include_inactive: Annotated[
            bool,
            strawberry.argument(
                description="Also inactive services (shown only to the doctor and admins)."
            ),
        ] = False,
    ) -> list[Annotated[Service, strawberry.lazy("schema.services")]]:
        from schema.services import resolve_doctor_services

        return await resolve_doctor_services(info, self.row.id, include_inactive)

    @strawberry.field(
        description="The doctor's user account, where the users policy lets the viewer see it."
    )
    async def user(self, info: GraphQLInfo) -> User | None:
        if self.row.user_id is None:
            return None
        visible = await info.context.loaders.get(UserByIdLoader).load(self.row.user_id)
        return User.from_visible(visible) if visible is not None else None

    @strawberry.field(
        description="Open, bookable slots on the doctor's local dates `from`..`to` "
        "(inclusive; default a week from today; at most 62 days), in UTC order."
    )
    async def available_slots(
        self,
        info: GraphQLInfo,
        from_: Annotated[
            date | None, strawberry.argument(name="from", description="First local date.")
        ] = None,
        to: Annotated[date | None, strawberry.argument(description="Last local date.")] = None,
        type: Annotated[
            AppointmentType | None,
            strawberry.argument(
                description="The default service of this type (when `serviceId` is not given).",
                deprecation_reason="Use `serviceId`: STANDARD and FOLLOWUP are the doctor's "
                "two default services (`services { defaultFor }`).",
            ),
        ] = None,
        service_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(
                description="The service (its length, buffer, notice and seats); default the "
                "doctor's standard consultation."
            ),
        ] = None,
    ) -> list[Annotated[AvailableSlot, strawberry.lazy("schema.slots")]]:
        from schema.slots import resolve_available_slots

        return await resolve_available_slots(
            info,
            self.row,
            from_,
            to,
            type or AppointmentType.STANDARD,
            parse_optional_id(service_id, "serviceId", of="Service"),
        )

    @strawberry.field(
        description="The first open slot in the next `withinDays` days (default 14, at "
        'most 60), or null: for the directory\'s "next available".'
    )
    async def next_available_slot(
        self,
        info: GraphQLInfo,
        type: Annotated[
            AppointmentType | None,
            strawberry.argument(
                description="The default service of this type (when `serviceId` is not given).",
                deprecation_reason="Use `serviceId`: STANDARD and FOLLOWUP are the doctor's "
                "two default services (`services { defaultFor }`).",
            ),
        ] = None,
        within_days: Annotated[
            int, strawberry.argument(description="How many days ahead to look, 1 to 60.")
        ] = 14,
        service_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(
                description="The service; default the doctor's standard consultation."
            ),
        ] = None,
    ) -> Annotated[AvailableSlot, strawberry.lazy("schema.slots")] | None:
        from schema.slots import resolve_next_available_slot

        if not 1 <= within_days <= 60:
            raise ValidationFailed.single("withinDays", "must be between 1 and 60")
        today = datetime.now(ZoneInfo(self.row.timezone)).date()
        return await resolve_next_available_slot(
            info,
            self.row,
            today,
            today + timedelta(days=within_days - 1),
            type or AppointmentType.STANDARD,
            parse_optional_id(service_id, "serviceId", of="Service"),
        )

    @strawberry.field(
        description="This doctor's appointments the viewer may see (a patient only their "
        "own, the doctor all of theirs, admins all), by start."
    )
    async def appointments(
        self,
        info: GraphQLInfo,
        first: First = None,
        after: Annotated[str | None, strawberry.argument(description="Cursor.")] = None,
        filter: Annotated[
            Annotated[AppointmentFilter, strawberry.lazy("schema.appointments")] | None,
            strawberry.argument(description="Filters."),
        ] = None,
    ) -> Connection[Annotated[Appointment, strawberry.lazy("schema.appointments")]]:
        from schema.appointments import resolve_doctor_appointments

        return await resolve_doctor_appointments(info, self.row.id, first, after, filter)

    @strawberry.field(description="Reviews of this doctor, newest first.")
    async def reviews(
        self,
        info: GraphQLInfo,
        first: First = None,
        after: Annotated[str | None, strawberry.argument(description="Cursor.")] = None,
        featured: Annotated[
            bool, strawberry.argument(description="Only featured reviews.")
        ] = False,
    ) -> Connection[Annotated[Review, strawberry.lazy("schema.reviews")]]:
        from schema.reviews import resolve_doctor_reviews

        return await resolve_doctor_reviews(info, self.row.id, first, after, featured)


@strawberry.enum(description="What to sort doctors by.")
class DoctorOrderField(Enum):
    NAME = "name"
    RATING = "rating"
    FEE = "fee"
    CREATED_AT = "created_at"


@strawberry.input(description="Sort order for doctors; ties are broken by id.")
class DoctorOrder:
    field: DoctorOrderField = strawberry.field(
        default=DoctorOrderField.NAME, description="Sort key."
    )
    direction: OrderDirection = strawberry.field(
        default=OrderDirection.ASC, description="Direction."
    )


@strawberry.input(description="Narrow the doctor directory; all given conditions must hold.")
class DoctorFilter:
    specialty: str | None = strawberry.field(
        default=None,
        description="Has this specialty, exactly as listed (case-sensitive, e.g. `Dermatology`).",
    )
    language: str | None = strawberry.field(
        default=None,
        description="Speaks this language, exactly as listed (case-sensitive, e.g. `Arabic`).",
    )
    accepting_patients: bool | None = strawberry.field(
        default=None, description="Accepting new patients or not."
    )
    verified: bool | None = strawberry.field(
        default=None, description="Verified or not (only admins see unverified doctors)."
    )
    search: str | None = strawberry.field(
        default=None, description="Case-insensitive text in the name or bio."
    )
    min_fee: Decimal | None = strawberry.field(
        default=None, description="Standard fee at least this (in the doctor's currency)."
    )
    max_fee: Decimal | None = strawberry.field(
        default=None, description="Standard fee at most this (in the doctor's currency)."
    )
    available_between: TimeWindow | None = strawberry.field(
        default=None,
        description="Has an open standard slot starting in this window (at most 14 days; "
        "looks at up to 1000 doctors matching the other conditions).",
    )


@strawberry.input(description="A window of time, [from, to).")
class TimeWindow:
    from_: datetime = strawberry.field(name="from", description="Start (inclusive).")
    to: datetime = strawberry.field(description="End (exclusive).")


@strawberry.type
class DoctorsQuery:
    @strawberry.field(
        description="The doctor directory: verified doctors (plus your own profile; admins "
        "see all), filtered and ordered, keyset-paginated. `first` defaults to 20, max 100."
    )
    async def doctors(
        self,
        info: GraphQLInfo,
        first: First = None,
        after: After = None,
        filter: Annotated[
            DoctorFilter | None, strawberry.argument(description="Conditions.")
        ] = None,
        order_by: Annotated[
            DoctorOrder | None, strawberry.argument(description="Sort order (default by name).")
        ] = None,
    ) -> Connection[Doctor]:
        conditions = filter or DoctorFilter()
        order = order_by or DoctorOrder()
        stored = doctor_resolvers.DoctorFilter(
            specialty=conditions.specialty,
            language=conditions.language,
            accepting_patients=conditions.accepting_patients,
            verified=conditions.verified,
            search=conditions.search,
            min_fee=doctor_resolvers.fee_bound(conditions.min_fee, "minFee"),
            max_fee=doctor_resolvers.fee_bound(conditions.max_fee, "maxFee"),
        )
        window = conditions.available_between
        if window is not None:
            candidates = await doctor_resolvers.directory_candidates(info.context, stored)
            open_ids = await slot_resolvers.open_between(
                info.context, candidates, window.from_, window.to
            )
            stored = replace(stored, only_ids=frozenset(open_ids))
        page = await doctor_resolvers.list_doctors(
            info.context,
            stored,
            doctor_resolvers.DoctorOrder(
                field=doctor_resolvers.DoctorOrderField(order.field.value),
                descending=order.direction is OrderDirection.DESC,
            ),
            first=first,
            after=after,
        )
        return connection_from_page(page, Doctor.from_model)

    @strawberry.field(description="A doctor by id; null when absent or not visible.")
    async def doctor(
        self,
        info: GraphQLInfo,
        id: Annotated[strawberry.ID, strawberry.argument(description="The id.")],
    ) -> Doctor | None:
        row = await doctor_resolvers.get_doctor(info.context, parse_id(id, of="Doctor"))
        return Doctor.from_model(row) if row is not None else None


@strawberry.input(description="Profile changes; omitted (null) fields are left as they are.")
class UpdateDoctorProfileInput:
    doctor_id: strawberry.ID | None = strawberry.field(
        default=None, description="Admins: the doctor. Doctors: omit for their own profile."
    )
    full_name: str | None = strawberry.field(default=None, description="Name, 1-200 chars.")
    specialties: list[str] | None = strawberry.field(default=None, description="Specialties.")
    languages: list[str] | None = strawberry.field(default=None, description="Languages.")
    bio: str | None = strawberry.field(default=None, description="Biography, up to 5000 chars.")
    qualifications: JSON | None = strawberry.field(
        default=None, description="List of qualification objects."
    )
    fee_standard: Decimal | None = strawberry.field(default=None, description="Standard fee.")
    fee_followup: Decimal | None = strawberry.field(default=None, description="Follow-up fee.")
    currency: str | None = strawberry.field(default=None, description="ISO 4217 code.")
    photo_url: str | None = strawberry.field(
        default=None, description="Photo URL; empty string clears it."
    )
    accepting_patients: bool | None = strawberry.field(
        default=None, description="Open for bookings."
    )
    timezone: str | None = strawberry.field(default=None, description="IANA time zone.")
    cancellation_policy_hours: int | None = strawberry.field(
        default=None, description="Cancellation window in hours, 0-720."
    )


@strawberry.type(description="The doctor profile was saved.")
class DoctorProfileUpdated:
    doctor: Doctor = strawberry.field(description="The updated profile.")


UpdateDoctorProfileResult = Annotated[
    DoctorProfileUpdated | ValidationError | NotAllowed | NotFoundError,
    strawberry.union("UpdateDoctorProfileResult", description="Result of updateDoctorProfile."),
]


@strawberry.input(description="Verify (or un-verify) a doctor.")
class VerifyDoctorInput:
    doctor_id: strawberry.ID = strawberry.field(description="The doctor.")
    verified: bool = strawberry.field(default=True, description="New verification state.")


@strawberry.type(description="The doctor's verification state was changed.")
class DoctorVerified:
    doctor: Doctor = strawberry.field(description="The doctor.")


VerifyDoctorResult = Annotated[
    DoctorVerified | ValidationError | NotAllowed | NotFoundError,
    strawberry.union("VerifyDoctorResult", description="Result of verifyDoctor."),
]


_INT64 = 2**63


def _json_problem(value: Any, depth: int = 0) -> str | None:
    """What keeps `value` from round-tripping through any JSON client: integers past 64
    bits (Postgres keeps them, most JSON parsers do not) and nesting past 10 levels."""
    if depth > 10:
        return "nests too deeply"
    if isinstance(value, bool) or value is None or isinstance(value, str | float):
        return None
    if isinstance(value, int):
        return None if -_INT64 <= value < _INT64 else "holds an integer past 64 bits"
    children = value.values() if isinstance(value, dict) else value
    for child in children:
        problem = _json_problem(child, depth + 1)
        if problem is not None:
            return problem
    return None


def _qualifications(value: JSON | None) -> list[Any] | None:
    if value is not None and not isinstance(value, list):
        raise ValidationFailed.single("qualifications", "must be a list of objects")
    problem = _json_problem(value)
    if problem is not None:
        raise ValidationFailed.single("qualifications", problem)
    return value


@strawberry.type
class DoctorsMutation:
    @strawberry.mutation(description="Update a doctor profile: your own, or any as an admin.")
    async def update_doctor_profile(
        self,
        info: GraphQLInfo,
        input: Annotated[UpdateDoctorProfileInput, strawberry.argument(description="The input.")],
    ) -> UpdateDoctorProfileResult:
        return await mutation_result(
            lambda: doctor_resolvers.update_doctor_profile(
                info.context,
                parse_optional_id(input.doctor_id, "doctorId", of="Doctor"),
                doctor_resolvers.DoctorProfileChanges(
                    full_name=input.full_name,
                    specialties=input.specialties,
                    languages=input.languages,
                    bio=input.bio,
                    qualifications=_qualifications(input.qualifications),
                    fee_standard=input.fee_standard,
                    fee_followup=input.fee_followup,
                    currency=input.currency,
                    photo_url=input.photo_url,
                    accepting_patients=input.accepting_patients,
                    timezone=input.timezone,
                    cancellation_policy_hours=input.cancellation_policy_hours,
                ),
            ),
            lambda row: DoctorProfileUpdated(doctor=Doctor.from_model(row)),
        )

    @strawberry.mutation(description="Admins: mark a doctor verified (public) or not.")
    async def verify_doctor(
        self,
        info: GraphQLInfo,
        input: Annotated[VerifyDoctorInput, strawberry.argument(description="The input.")],
    ) -> VerifyDoctorResult:
        return await mutation_result(
            lambda: doctor_resolvers.verify_doctor(
                info.context, parse_id(input.doctor_id, "doctorId", of="Doctor"), input.verified
            ),
            lambda row: DoctorVerified(doctor=Doctor.from_model(row)),
        )


register_node("Doctor", DoctorByIdLoader, lambda _info, row: Doctor.from_model(row))

sql_row(Doctor, DoctorModel, ids={"id": ("Doctor", "id")})
