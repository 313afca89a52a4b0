"""Open slots and the short holds that reserve them during checkout."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import strawberry

from models import Doctor as DoctorModel
from models import SlotHold as SlotHoldModel
from resolvers import slots as slot_resolvers
from resolvers.core import realtime
from resolvers.core.errors import CaregraphError, NotFound
from resolvers.slots import SlotHoldByIdLoader, SlotUnavailableError
from schema.connections import After, Connection, First, connection_from_page
from schema.engine.look_ahead import GraphQLInfo
from schema.enums import (
    AppointmentType,
)
from schema.ids import format_id, format_optional_id, parse_id, parse_optional_id
from schema.mutation_results import (
    NotAllowed,
    NotFoundError,
    UserError,
    ValidationError,
    deleted_id_field,
    deprecated_id_field,
    mutation_result,
    user_error,
)
from schema.node import Node, register_node

if TYPE_CHECKING:
    pass


def _local_start_time(root: AvailableSlot) -> str:
    # Computed only when a query selects it (a directory page lists hundreds of slots).
    return root.starts_at.astimezone(ZoneInfo(root.timezone)).strftime("%H:%M")


@strawberry.type(description="An open, bookable slot. Times are UTC instants.")
class AvailableSlot:
    starts_at: datetime = strawberry.field(description="Start (UTC).")
    ends_at: datetime = strawberry.field(description="End (UTC).")
    timezone: str = strawberry.field(description="The doctor's IANA time zone.")
    local_date: date = strawberry.field(description="The date in the doctor's time zone.")
    local_start_time: str = strawberry.field(
        resolver=_local_start_time, description="Start in the doctor's time zone, HH:MM."
    )
    type: AppointmentType = strawberry.field(
        description="The appointment type booking it makes (STANDARD for services other "
        "than the follow-up default)."
    )
    price: Decimal = strawberry.field(description="Price of the service before coupons.")
    currency: str = strawberry.field(description="ISO 4217 currency of the price.")
    service_id: strawberry.ID = strawberry.field(description="The service this slot is of.")
    capacity: int = strawberry.field(description="Seats of the session; 1 when private.")
    seats_left: int = strawberry.field(
        description="Seats still open (a group session's slot stays listed until full)."
    )

    @classmethod
    def from_slot(
        cls, slot: slot_resolvers.Slot, service_id: strawberry.ID | None = None
    ) -> AvailableSlot:
        """`service_id`: the slot's service's global id, when the caller has it already."""
        assert slot.service_id is not None
        return cls(
            starts_at=slot.starts_at,
            ends_at=slot.ends_at,
            timezone=slot.timezone,
            local_date=slot.local_date,
            type=_TYPES[slot.type],
            price=slot.price,
            currency=slot.currency,
            service_id=service_id or format_id("Service", slot.service_id),
            capacity=slot.capacity,
            seats_left=slot.seats_left,
        )


_TYPES = {member.value: member for member in AppointmentType}


@strawberry.type(description="A short hold on a slot; it hides the slot from others.")
class SlotHold(Node):
    id: strawberry.ID = strawberry.field(description="Hold id.")
    doctor_id: strawberry.ID = strawberry.field(description="The doctor held.")
    user_id: strawberry.ID = strawberry.field(description="Who holds it.")
    starts_at: datetime = strawberry.field(description="Slot start (UTC).")
    ends_at: datetime = strawberry.field(description="Slot end (UTC).")
    expires_at: datetime = strawberry.field(description="When the hold lapses by itself.")
    service_id: strawberry.ID | None = strawberry.field(
        description="The service held (a group session's hold takes one seat)."
    )

    @classmethod
    def from_model(cls, row: SlotHoldModel) -> SlotHold:
        return cls(
            id=format_id("SlotHold", row.id),
            doctor_id=format_id("Doctor", row.doctor_id),
            user_id=format_id("User", row.user_id),
            service_id=format_optional_id("Service", row.service_id),
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            expires_at=row.expires_at,
        )


async def resolve_available_slots(
    info: GraphQLInfo,
    doctor: DoctorModel,
    from_: date | None,
    to: date | None,
    type_: AppointmentType,
    service_id: uuid.UUID | None = None,
) -> list[AvailableSlot]:
    """Used by `Doctor.availableSlots`: a page of a week holds hundreds of slots of one or
    two services, so each service's global id is written once."""
    slots = await slot_resolvers.available_slots(
        info.context, doctor, from_, to, type_.value, service_id=service_id
    )
    ids: dict[uuid.UUID | None, strawberry.ID] = {}
    available = []
    for slot in slots:
        service_gid = ids.get(slot.service_id)
        if service_gid is None:
            assert slot.service_id is not None
            service_gid = ids[slot.service_id] = format_id("Service", slot.service_id)
        available.append(AvailableSlot.from_slot(slot, service_gid))
    return available


async def resolve_next_available_slot(
    info: GraphQLInfo,
    doctor: DoctorModel,
    from_: date,
    to: date,
    type_: AppointmentType,
    service_id: uuid.UUID | None = None,
) -> AvailableSlot | None:
    """Used by `Doctor.nextAvailableSlot`: slots computed up to the first date that has any
    (not the whole two weeks, about 1,700), and only the first made into an
    `AvailableSlot`."""
    slots = await slot_resolvers.available_slots(
        info.context, doctor, from_, to, type_.value, service_id=service_id, first_day_only=True
    )
    return AvailableSlot.from_slot(slots[0]) if slots else None


@strawberry.type(
    description="The slot is not open: taken, held by someone else, past, or off "
    "the schedule. Nothing was written."
)
class SlotUnavailable(UserError):
    starts_at: datetime | None = strawberry.field(description="The slot asked for.")


def slot_unavailable(error: SlotUnavailableError) -> SlotUnavailable:
    return SlotUnavailable(message=error.message, code=error.code, starts_at=error.starts_at)


def hold_error(
    error: CaregraphError,
) -> SlotUnavailable | ValidationError | NotAllowed | NotFoundError:
    if isinstance(error, SlotUnavailableError):
        return slot_unavailable(error)
    return user_error(error)


@strawberry.input(description="Hold an open slot for a few minutes while checking out.")
class HoldSlotInput:
    doctor_id: strawberry.ID = strawberry.field(description="The doctor.")
    starts_at: datetime = strawberry.field(description="Slot start, as listed (UTC).")
    patient_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Front desk (staff) and admins: the patient to hold for. Others may "
        "only name themselves (the default).",
    )
    service_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The service (a group session: one seat); default the doctor's "
        "standard consultation.",
    )


@strawberry.type(description="The slot is held for the viewer until `hold.expiresAt`.")
class SlotHeld:
    hold: SlotHold = strawberry.field(description="The hold.")


HoldSlotResult = Annotated[
    SlotHeld | SlotUnavailable | ValidationError | NotAllowed | NotFoundError,
    strawberry.union("HoldSlotResult", description="Result of holdSlot."),
]


@strawberry.input(description="Release a hold.")
class ReleaseHoldInput:
    id: strawberry.ID = strawberry.field(description="The hold.")


@strawberry.type(description="The hold was released.")
class HoldReleased:
    id: strawberry.ID = deprecated_id_field("Id of the released hold.")
    deleted_id: strawberry.ID = deleted_id_field("Id of the released hold.")


ReleaseHoldResult = Annotated[
    HoldReleased | ValidationError | NotAllowed | NotFoundError,
    strawberry.union("ReleaseHoldResult", description="Result of releaseHold."),
]


@strawberry.type
class SlotsQuery:
    @strawberry.field(
        description="Unexpired slot holds the viewer may see (own; a doctor's also those "
        "on their schedule; admins all).",
        deprecation_reason="Use `holds`, a connection: this list stops at 100.",
    )
    async def slot_holds(self, info: GraphQLInfo) -> list[SlotHold]:
        rows = await slot_resolvers.list_active_holds(info.context)
        return [SlotHold.from_model(row) for row in rows]

    @strawberry.field(
        description="Unexpired slot holds the viewer may see (own; a doctor's also those "
        "on their schedule; admins all), by start."
    )
    async def holds(
        self, info: GraphQLInfo, first: First = None, after: After = None
    ) -> Connection[SlotHold]:
        page = await slot_resolvers.page_active_holds(info.context, first=first, after=after)
        return connection_from_page(page, SlotHold.from_model)


@strawberry.type
class SlotsMutation:
    @strawberry.mutation(description="Hold an open slot for a few minutes (default 10).")
    async def hold_slot(
        self,
        info: GraphQLInfo,
        input: Annotated[HoldSlotInput, strawberry.argument(description="The input.")],
    ) -> HoldSlotResult:
        return await mutation_result(
            lambda: slot_resolvers.hold_slot(
                info.context,
                parse_id(input.doctor_id, "doctorId", of="Doctor"),
                input.starts_at,
                patient_id=parse_optional_id(input.patient_id, "patientId", of="User"),
                service_id=parse_optional_id(input.service_id, "serviceId", of="Service"),
            ),
            lambda hold: SlotHeld(hold=SlotHold.from_model(hold)),
            hold_error,
        )

    @strawberry.mutation(description="Release your hold on a slot.")
    async def release_hold(
        self,
        info: GraphQLInfo,
        input: Annotated[ReleaseHoldInput, strawberry.argument(description="The input.")],
    ) -> ReleaseHoldResult:
        return await mutation_result(
            lambda: slot_resolvers.release_hold(info.context, parse_id(input.id, of="SlotHold")),
            lambda released: HoldReleased(id=format_id("SlotHold", released)),
        )


register_node("SlotHold", SlotHoldByIdLoader, lambda _info, row: SlotHold.from_model(row))


@strawberry.type
class SlotsSubscription:
    @strawberry.subscription(
        description="A doctor's open slots of a service (default the standard consultation) "
        "on the local dates `from`..`to` (default a week from today), sent whole at the "
        "start and again each time a hold, booking, cancellation, rule, exception or "
        "service change may have changed them."
    )
    async def open_slots_changed(
        self,
        info: GraphQLInfo,
        doctor_id: Annotated[strawberry.ID, strawberry.argument(description="The doctor.")],
        service_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="The service.")
        ] = None,
        from_: Annotated[
            date | None, strawberry.argument(name="from", description="First local date.")
        ] = None,
        to: Annotated[date | None, strawberry.argument(description="Last local date.")] = None,
    ) -> AsyncGenerator[list[AvailableSlot], None]:
        from resolvers.doctors import DoctorByIdLoader

        doctor_key = parse_id(doctor_id, "doctorId", of="Doctor")
        service = parse_optional_id(service_id, "serviceId", of="Service")
        context = info.context

        async def current() -> list[AvailableSlot] | None:
            doctor = await context.loaders.get(DoctorByIdLoader).load(doctor_key)
            if doctor is None:
                return None
            return await resolve_available_slots(
                info, doctor, from_, to, AppointmentType.STANDARD, service
            )

        slots = await current()
        if slots is None:
            raise NotFound("Doctor not found.")
        yield slots
        async for _event in realtime.stream(
            context, "slots", None, ("row_id", doctor_key), coalesce=True
        ):
            slots = await current()
            if slots is None:  # no longer readable: the subscription ends
                return
            yield slots
