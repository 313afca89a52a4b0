"""Patients' reviews of completed appointments, and featuring them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from models import Review as ReviewModel
from resolvers import reviews as review_resolvers
from resolvers.reviews import ReviewByIdLoader
from resolvers.users import UserByIdLoader
from schema.appointments import InvalidTransition, status_error
from schema.connections import Connection, connection_from_page
from schema.engine.look_ahead import GraphQLInfo
from schema.ids import format_id, parse_id
from schema.mutation_results import (
    NotAllowed,
    NotFoundError,
    ValidationError,
    mutation_result,
)
from schema.node import Node, register_node
from schema.users import User

if TYPE_CHECKING:
    pass


@strawberry.type(description="A patient's review of a completed appointment.")
class Review(Node):
    id: strawberry.ID = strawberry.field(description="Review id.")
    appointment_id: strawberry.ID = strawberry.field(description="The reviewed appointment.")
    doctor_id: strawberry.ID = strawberry.field(description="The reviewed doctor.")
    rating: int = strawberry.field(description="Stars, 1 to 5.")
    comment: str = strawberry.field(description="What the patient wrote.")
    featured: bool = strawberry.field(description="Featured by an admin.")
    created_at: datetime = strawberry.field(description="When it was written.")
    patient_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_model(cls, row: ReviewModel) -> Review:
        return cls(
            id=format_id("Review", row.id),
            appointment_id=format_id("Appointment", row.appointment_id),
            doctor_id=format_id("Doctor", row.doctor_id),
            rating=row.rating,
            comment=row.comment,
            featured=row.featured,
            created_at=row.created_at,
            patient_id=row.patient_id,
        )

    @strawberry.field(
        description="The author, where the users policy lets the viewer see them (else null)."
    )
    async def patient(self, info: GraphQLInfo) -> User | None:
        visible = await info.context.loaders.get(UserByIdLoader).load(self.patient_id)
        return User.from_visible(visible) if visible is not None else None


async def resolve_doctor_reviews(
    info: GraphQLInfo, doctor_id: uuid.UUID, first: int | None, after: str | None, featured: bool
) -> Connection[Review]:
    """Used by `Doctor.reviews`."""
    page = await review_resolvers.doctor_reviews(
        info.context, doctor_id, first=first, after=after, featured_only=featured
    )
    return connection_from_page(page, Review.from_model)


@strawberry.input(description="Review a completed appointment (its patient, once).")
class ReviewAppointmentInput:
    appointment_id: strawberry.ID = strawberry.field(description="The appointment.")
    rating: int = strawberry.field(description="1 to 5 stars.")
    comment: str = strawberry.field(default="", description="Up to 2000 characters.")


@strawberry.type(description="The review was saved and the doctor's rating updated.")
class AppointmentReviewed:
    review: Review = strawberry.field(description="The review.")


ReviewAppointmentResult = Annotated[
    AppointmentReviewed | InvalidTransition | ValidationError | NotAllowed | NotFoundError,
    strawberry.union("ReviewAppointmentResult", description="Result of reviewAppointment."),
]


@strawberry.input(description="Feature (or un-feature) a review.")
class FeatureReviewInput:
    review_id: strawberry.ID = strawberry.field(description="The review.")
    featured: bool = strawberry.field(default=True, description="New state.")


@strawberry.type(description="The review's featured state was changed.")
class ReviewFeatured:
    review: Review = strawberry.field(description="The review.")


FeatureReviewResult = Annotated[
    ReviewFeatured | ValidationError | NotAllowed | NotFoundError,
    strawberry.union("FeatureReviewResult", description="Result of featureReview."),
]


@strawberry.type
class ReviewsMutation:
    @strawberry.mutation(description="Review your completed appointment (once).")
    async def review_appointment(
        self,
        info: GraphQLInfo,
        input: Annotated[ReviewAppointmentInput, strawberry.argument(description="The input.")],
    ) -> ReviewAppointmentResult:
        return await mutation_result(
            lambda: review_resolvers.review_appointment(
                info.context,
                parse_id(input.appointment_id, "appointmentId", of="Appointment"),
                input.rating,
                input.comment,
            ),
            lambda row: AppointmentReviewed(review=Review.from_model(row)),
            status_error,
        )

    @strawberry.mutation(description="Admins: feature a review (or stop featuring it).")
    async def feature_review(
        self,
        info: GraphQLInfo,
        input: Annotated[FeatureReviewInput, strawberry.argument(description="The input.")],
    ) -> FeatureReviewResult:
        return await mutation_result(
            lambda: review_resolvers.feature_review(
                info.context, parse_id(input.review_id, "reviewId", of="Review"), input.featured
            ),
            lambda row: ReviewFeatured(review=Review.from_model(row)),
        )


register_node("Review", ReviewByIdLoader, lambda _info, row: Review.from_model(row))
