"""The services catalog: what a doctor offers, their intake questions, and managing them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from models import Service as ServiceModel
from resolvers import services as service_resolvers
from resolvers.doctors import DoctorByIdLoader
from resolvers.services import ServiceByIdLoader
from schema.engine.look_ahead import GraphQLInfo
from schema.enums import AppointmentType, IntakeQuestionKind, ServiceConfirmation, ServiceMode
from schema.ids import format_id, parse_id, parse_optional_id
from schema.mutation_results import NotAllowed, NotFoundError, ValidationError, mutation_result
from schema.node import Node, register_node

if TYPE_CHECKING:
    from schema.doctors import Doctor


@strawberry.type(description="A question a service asks when it is booked.")
class IntakeQuestion:
    key: str = strawberry.field(description="Key of the question; answers name it.")
    prompt: str = strawberry.field(description="The question as shown to the patient.")
    kind: IntakeQuestionKind = strawberry.field(description="What kind of answer it takes.")
    required: bool = strawberry.field(description="A booking without an answer is refused.")
    choices: list[str] = strawberry.field(description="The choices of a CHOICE question.")

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> IntakeQuestion:
        return cls(
            key=stored["key"],
            prompt=stored["prompt"],
            kind=IntakeQuestionKind(stored["kind"]),
            required=stored["required"],
            choices=list(stored["choices"]),
        )


@strawberry.type(
    description="Something a doctor offers: a private appointment (capacity 1) or a group "
    "session selling seats, in person or by video. Each doctor has two default services, "
    "one per appointment type (what `type: STANDARD | FOLLOWUP` books); their price is the "
    "doctor's fee for that type."
)
class Service(Node):
    id: strawberry.ID = strawberry.field(description="Service id.")
    doctor_id: strawberry.ID = strawberry.field(description="The doctor offering it.")
    name: str = strawberry.field(description="Name, e.g. Initial consultation, Yoga class.")
    description: str = strawberry.field(description="What it is, for patients.")
    duration_minutes: int | None = strawberry.field(
        description="Length of one appointment or session; null for a default service: the "
        "length of the doctor's weekly slots."
    )
    buffer_minutes: int | None = strawberry.field(
        description="Gap kept after each; null for a default service: the weekly rule's."
    )
    price: Decimal = strawberry.field(description="Price of one booking (one seat).")
    currency: str = strawberry.field(description="ISO 4217 currency of the price.")
    mode: ServiceMode = strawberry.field(
        description="In person, or by video (a confirmed booking gets a meeting link)."
    )
    confirmation: ServiceConfirmation = strawberry.field(
        description="Confirmed automatically, or after the doctor's approval."
    )
    min_notice_minutes: int = strawberry.field(
        description="Bookings start at least this long after they are made (or the "
        "clinic's lead time, if longer)."
    )
    capacity: int = strawberry.field(
        description="1 for a private appointment; the seats of a group session."
    )
    default_for: AppointmentType | None = strawberry.field(
        description="The appointment type this default service books; null for the "
        "doctor's own services."
    )
    intake_questions: list[IntakeQuestion] = strawberry.field(
        description="Questions the patient answers when booking."
    )
    active: bool = strawberry.field(
        description="Offered now. Inactive services are kept (bookings point at them) and "
        "shown only to their doctor and admins."
    )
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(description="When it last changed.")
    row: strawberry.Private[ServiceModel]

    @classmethod
    def from_model(cls, row: ServiceModel) -> Service:
        return cls(
            id=format_id("Service", row.id),
            doctor_id=format_id("Doctor", row.doctor_id),
            name=row.name,
            description=row.description,
            duration_minutes=row.duration_minutes,
            buffer_minutes=row.buffer_minutes,
            price=row.price,
            currency=row.currency,
            mode=ServiceMode(row.mode),
            confirmation=ServiceConfirmation(row.confirmation),
            min_notice_minutes=row.min_notice_minutes,
            capacity=row.capacity,
            default_for=AppointmentType(row.default_for) if row.default_for else None,
            intake_questions=[IntakeQuestion.from_stored(q) for q in row.intake_questions],
            active=row.active,
            created_at=row.created_at,
            updated_at=row.updated_at,
            row=row,
        )

    @strawberry.field(description="The doctor, if the doctors policy lets the viewer see it.")
    async def doctor(
        self, info: GraphQLInfo
    ) -> Annotated[Doctor, strawberry.lazy("schema.doctors")] | None:
        from schema.doctors import Doctor

        row = await info.context.loaders.get(DoctorByIdLoader).load(self.row.doctor_id)
        return Doctor.from_model(row) if row is not None else None


async def resolve_doctor_services(
    info: GraphQLInfo, doctor_id: Any, include_inactive: bool
) -> list[Service]:
    """Used by `Doctor.services`."""
    rows = await info.context.loaders.get(service_resolvers.ServicesByDoctorIdLoader).load(
        doctor_id
    )
    return [Service.from_model(row) for row in rows if include_inactive or row.active]


@strawberry.input(description="One intake question.")
class IntakeQuestionInput:
    prompt: str = strawberry.field(description="The question (1-500 characters).")
    kind: IntakeQuestionKind = strawberry.field(description="What kind of answer it takes.")
    required: bool = strawberry.field(default=False, description="Must be answered.")
    choices: list[str] = strawberry.field(
        default_factory=list, description="For CHOICE: 2 to 20 distinct choices."
    )
    key: str | None = strawberry.field(
        default=None,
        description="A stable key (lowercase letters, digits, '-', '_'); default q1, q2, ... "
        "by position.",
    )


def _questions(
    questions: list[IntakeQuestionInput] | None,
) -> tuple[service_resolvers.IntakeQuestionSpec, ...] | None:
    if questions is None:
        return None
    return tuple(
        service_resolvers.IntakeQuestionSpec(
            prompt=question.prompt,
            kind=question.kind.value,
            required=question.required,
            choices=tuple(question.choices),
            key=question.key,
        )
        for question in questions
    )


@strawberry.input(description="A new service.")
class CreateServiceInput:
    name: str = strawberry.field(description="Name (1-120 characters).")
    duration_minutes: int = strawberry.field(description="Length, 5 to 480 minutes.")
    price: Decimal = strawberry.field(description="Price of one booking (one seat).")
    doctor_id: strawberry.ID | None = strawberry.field(
        default=None, description="Admins: the doctor. Doctors: omit for their own."
    )
    description: str = strawberry.field(default="", description="For patients (4000 chars).")
    buffer_minutes: int = strawberry.field(default=0, description="Gap after each, 0 to 240.")
    currency: str | None = strawberry.field(
        default=None, description="ISO 4217; default the doctor's currency."
    )
    mode: ServiceMode = strawberry.field(default=ServiceMode.IN_PERSON, description="Mode.")
    confirmation: ServiceConfirmation = strawberry.field(
        default=ServiceConfirmation.AUTOMATIC, description="How bookings are confirmed."
    )
    min_notice_minutes: int = strawberry.field(
        default=0, description="Minimum notice, 0 to 43200 minutes (30 days)."
    )
    capacity: int = strawberry.field(
        default=1, description="1 for private appointments; up to 500 seats for a group."
    )
    intake_questions: list[IntakeQuestionInput] = strawberry.field(
        default_factory=list, description="Questions asked when booking (at most 20)."
    )
    active: bool = strawberry.field(default=True, description="Offered now.")


@strawberry.input(description="Change a service; omitted fields stay.")
class UpdateServiceInput:
    id: strawberry.ID = strawberry.field(description="The service.")
    name: str | None = strawberry.field(default=None, description="Name.")
    description: str | None = strawberry.field(default=None, description="Description.")
    duration_minutes: int | None = strawberry.field(default=None, description="Length.")
    buffer_minutes: int | None = strawberry.field(default=None, description="Gap after each.")
    price: Decimal | None = strawberry.field(
        default=None, description="Price (of a default service: the doctor's fee too)."
    )
    currency: str | None = strawberry.field(default=None, description="Currency.")
    mode: ServiceMode | None = strawberry.field(default=None, description="Mode.")
    confirmation: ServiceConfirmation | None = strawberry.field(
        default=None, description="How bookings are confirmed."
    )
    min_notice_minutes: int | None = strawberry.field(default=None, description="Notice.")
    capacity: int | None = strawberry.field(default=None, description="Seats.")
    intake_questions: list[IntakeQuestionInput] | None = strawberry.field(
        default=None, description="Replaces the questions (bookings keep what they answered)."
    )
    active: bool | None = strawberry.field(
        default=None, description="Offer it, or stop (default services stay active)."
    )


@strawberry.type(description="The service was saved.")
class ServiceSaved:
    service: Service = strawberry.field(description="The service.")


ServiceResult = Annotated[
    ServiceSaved | ValidationError | NotAllowed | NotFoundError,
    strawberry.union("ServiceResult", description="Result of createService / updateService."),
]


def _saved(row: ServiceModel) -> ServiceSaved:
    return ServiceSaved(service=Service.from_model(row))


@strawberry.type
class ServicesMutation:
    @strawberry.mutation(description="Doctors (own) and admins: offer a new service.")
    async def create_service(
        self,
        info: GraphQLInfo,
        input: Annotated[CreateServiceInput, strawberry.argument(description="The input.")],
    ) -> ServiceResult:
        return await mutation_result(
            lambda: service_resolvers.create_service(
                info.context,
                parse_optional_id(input.doctor_id, "doctorId", of="Doctor"),
                service_resolvers.ServiceSpec(
                    name=input.name,
                    description=input.description,
                    duration_minutes=input.duration_minutes,
                    buffer_minutes=input.buffer_minutes,
                    price=input.price,
                    currency=input.currency,
                    mode=input.mode.value,
                    confirmation=input.confirmation.value,
                    min_notice_minutes=input.min_notice_minutes,
                    capacity=input.capacity,
                    intake_questions=_questions(input.intake_questions),
                    active=input.active,
                ),
            ),
            _saved,
        )

    @strawberry.mutation(
        description="Doctors (own) and admins: change a service, or stop offering it "
        "(`active: false`; bookings made stay)."
    )
    async def update_service(
        self,
        info: GraphQLInfo,
        input: Annotated[UpdateServiceInput, strawberry.argument(description="The input.")],
    ) -> ServiceResult:
        return await mutation_result(
            lambda: service_resolvers.update_service(
                info.context,
                parse_id(input.id, of="Service"),
                service_resolvers.ServiceSpec(
                    name=input.name,
                    description=input.description,
                    duration_minutes=input.duration_minutes,
                    buffer_minutes=input.buffer_minutes,
                    price=input.price,
                    currency=input.currency,
                    mode=input.mode.value if input.mode else None,
                    confirmation=input.confirmation.value if input.confirmation else None,
                    min_notice_minutes=input.min_notice_minutes,
                    capacity=input.capacity,
                    intake_questions=_questions(input.intake_questions),
                    active=input.active,
                    changes_only=True,
                ),
            ),
            _saved,
        )


register_node("Service", ServiceByIdLoader, lambda _info, row: Service.from_model(row))
