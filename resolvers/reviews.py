"""Reviews: one per completed appointment, by its patient; the doctor's rating average
and count are recomputed from the reviews table under the doctor row lock, so they stay
exact under concurrent reviews. Admins feature reviews."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from models import Appointment, Doctor, Review
from resolvers.appointments import InvalidTransitionError
from resolvers.core.context import Context
from resolvers.core.errors import FieldErrors, Forbidden, NotFound, ValidationFailed
from resolvers.core.identity import Viewer
from resolvers.core.loaders import PolicyLoader, RowByIdLoader
from resolvers.core.pagination import Page, SortKey, page_size
from resolvers.core.statement_templates import AnySelect
from resolvers.core.windowed_pages import counts_per_parent, pages_per_parent
from resolvers.policies import readable, require, visible
from resolvers.policies.appointments import review_policy

MAX_COMMENT_LENGTH = 2000
REVIEW_SORT = SortKey((Review.created_at, Review.id), descending=True)  # type: ignore[arg-type]


def _review_key(review: Review) -> tuple[datetime, uuid.UUID]:
    return review.created_at, review.id


async def review_appointment(
    ctx: Context, appointment_id: uuid.UUID, rating: int, comment: str
) -> Review:
    viewer = ctx.viewer
    if viewer.user_id is None:
        raise Forbidden("Sign in to review an appointment.")
    errors = FieldErrors()
    errors.check(1 <= rating <= 5, "rating", "must be 1 to 5")
    errors.check(
        len(comment) <= MAX_COMMENT_LENGTH, "comment", f"at most {MAX_COMMENT_LENGTH} characters"
    )
    errors.raise_if_any()
    try:
        async with ctx.db.transaction() as session:
            appointment = (
                await session.scalars(
                    visible(Appointment, viewer)
                    .where(Appointment.id == appointment_id)
                    .with_for_update()
                )
            ).one_or_none()
            if appointment is None:
                raise NotFound("Appointment not found.")
            require(
                appointment.patient_id == viewer.user_id,
                "Only the appointment's patient may review it.",
            )
            if appointment.status != "completed":
                raise InvalidTransitionError(
                    f"Only completed appointments can be reviewed; this one is "
                    f"{appointment.status}.",
                    appointment.status,
                    appointment.status,
                )
            # Lock the doctor row first: the aggregate below then sees every review
            # committed before us, so concurrent reviews cannot lose an update.
            await session.execute(
                select(Doctor.id).where(Doctor.id == appointment.doctor_id).with_for_update()
            )
            review = Review(
                appointment_id=appointment.id,
                doctor_id=appointment.doctor_id,
                patient_id=viewer.user_id,
                rating=rating,
                comment=comment.strip(),
            )
            session.add(review)
            await session.flush()
            await refresh_ratings(session, [appointment.doctor_id])
    except IntegrityError as error:
        if "uq_reviews_appointment_id" in str(error.orig):
            raise ValidationFailed.single(
                "appointmentId", "this appointment is already reviewed"
            ) from error
        raise
    return review


async def refresh_ratings(session: Any, doctor_ids: Iterable[uuid.UUID]) -> None:
    """One UPDATE setting each doctor's average and count from the reviews table."""
    of_doctor = Review.doctor_id == Doctor.id
    average = (
        select(func.coalesce(func.round(func.avg(Review.rating), 2), 0))
        .where(of_doctor)
        .scalar_subquery()
    )
    count = select(func.count(Review.id)).where(of_doctor).scalar_subquery()
    await session.execute(
        update(Doctor)
        .where(Doctor.id.in_(list(doctor_ids)))
        .values(rating_avg=average, rating_count=count)
        .execution_options(synchronize_session=False)
    )


async def feature_review(ctx: Context, review_id: uuid.UUID, featured: bool) -> Review:
    require(review_policy.can_feature(ctx.viewer), "Only admins may feature reviews.")
    async with ctx.db.transaction() as session:
        review = (
            await session.scalars(
                visible(Review, ctx.viewer).where(Review.id == review_id).with_for_update()
            )
        ).one_or_none()
        if review is None:
            raise NotFound("Review not found.")
        review.featured = featured
        review.featured_at = datetime.now(UTC) if featured else None
        await session.flush()
    return review


class ReviewByAppointmentIdLoader(PolicyLoader[uuid.UUID, Review | None]):
    async def batch_load_fn(self, keys: Sequence[uuid.UUID]) -> list[Review | None]:
        rows = await self.visible_where_in(Review, Review.appointment_id, keys)
        found = {r.appointment_id: r for r in rows}
        return [found.get(key) for key in keys]


@dataclass(frozen=True)
class DoctorReviewsKey:
    doctor_id: uuid.UUID
    first: int
    after: str | None
    featured_only: bool = False


@dataclass(frozen=True)
class ReviewCountKey:
    doctor_id: uuid.UUID
    featured_only: bool


class ReviewCountByDoctorIdLoader(PolicyLoader[ReviewCountKey, int]):
    async def batch_load_fn(self, keys: Sequence[ReviewCountKey]) -> list[int]:
        by_flag: dict[bool, set[uuid.UUID]] = defaultdict(set)
        for key in keys:
            by_flag[key.featured_only].add(key.doctor_id)
        counts: dict[ReviewCountKey, int] = {}
        for featured_only, doctor_ids in by_flag.items():

            def statement(viewer: Viewer, featured_only: bool = featured_only) -> AnySelect:
                counted = select(Review.doctor_id, func.count()).where(readable(Review, viewer))
                return counted.where(Review.featured.is_(True)) if featured_only else counted

            found = await counts_per_parent(
                self.db,
                self.viewer,
                (type(self), featured_only),
                statement,
                Review.doctor_id,
                doctor_ids,
            )
            for doctor_id, total in found.items():
                counts[ReviewCountKey(doctor_id, featured_only)] = total
        return [counts[key] for key in keys]


class ReviewsByDoctorIdLoader(PolicyLoader[DoctorReviewsKey, Page[Review]]):
    """`Doctor.reviews`: newest first, one windowed query per distinct page shape."""

    async def batch_load_fn(self, keys: Sequence[DoctorReviewsKey]) -> list[Page[Review]]:
        groups: dict[tuple[int, str | None, bool], set[uuid.UUID]] = defaultdict(set)
        for key in keys:
            groups[(key.first, key.after, key.featured_only)].add(key.doctor_id)
        counter = self.sibling(ReviewCountByDoctorIdLoader)
        pages: dict[DoctorReviewsKey, Page[Review]] = {}
        for (first, after, featured_only), doctor_ids in groups.items():

            def statement(viewer: Viewer, featured_only: bool = featured_only) -> AnySelect:
                reviews = visible(Review, viewer)
                return reviews.where(Review.featured.is_(True)) if featured_only else reviews

            def count(doctor_id: Any, featured_only: bool = featured_only) -> Any:
                return counter.load(ReviewCountKey(doctor_id, featured_only))

            found = await pages_per_parent(
                self.db,
                self.viewer,
                (type(self), featured_only),
                Review,
                statement,
                Review.doctor_id,
                doctor_ids,
                REVIEW_SORT,
                _review_key,
                first=first,
                after=after,
                count=count,
            )
            for doctor_id, page in found.items():
                pages[DoctorReviewsKey(doctor_id, first, after, featured_only)] = page
        return [pages[key] for key in keys]


async def doctor_reviews(
    ctx: Context,
    doctor_id: uuid.UUID,
    *,
    first: int | None,
    after: str | None,
    featured_only: bool = False,
) -> Page[Review]:
    limit = page_size(
        first, default=ctx.settings.default_page_size, maximum=ctx.settings.max_page_size
    )
    return await ctx.loaders.get(ReviewsByDoctorIdLoader).load(
        DoctorReviewsKey(doctor_id, limit, after, featured_only)
    )


class ReviewByIdLoader(RowByIdLoader):
    model = Review
