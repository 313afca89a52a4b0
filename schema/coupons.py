"""Discount codes: the coupon type, its error on booking, and its management."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry

from models import Coupon as CouponModel
from resolvers import coupons as coupon_resolvers
from resolvers.coupons import CouponByIdLoader
from schema.connections import Connection, First, connection_from_page
from schema.engine.look_ahead import GraphQLInfo
from schema.enums import (
    CouponKind,
)
from schema.ids import format_id, format_optional_id, parse_id, parse_optional_id
from schema.mutation_results import (
    NotAllowed,
    NotFoundError,
    UserError,
    ValidationError,
    mutation_result,
)
from schema.node import Node, register_node

if TYPE_CHECKING:
    pass


@strawberry.type(description="A discount code; doctors and admins manage them.")
class Coupon(Node):
    id: strawberry.ID = strawberry.field(description="Coupon id.")
    code: str = strawberry.field(description="The code patients type (upper case).")
    doctor_id: strawberry.ID | None = strawberry.field(
        description="Valid for this doctor only; null means platform-wide."
    )
    kind: CouponKind = strawberry.field(description="Percent or fixed amount.")
    value: Decimal = strawberry.field(description="Percentage (1-100) or amount.")
    currency: str | None = strawberry.field(description="Currency of a fixed amount.")
    valid_from: datetime | None = strawberry.field(description="Not valid before.")
    valid_until: datetime | None = strawberry.field(description="Not valid from then on.")
    max_uses: int | None = strawberry.field(description="Total redemptions allowed.")
    max_uses_per_user: int | None = strawberry.field(description="Redemptions per patient.")
    used_count: int = strawberry.field(description="Redemptions so far.")
    active: bool = strawberry.field(description="Inactive codes are refused.")
    created_at: datetime = strawberry.field(description="When it was created.")

    @classmethod
    def from_model(cls, row: CouponModel) -> Coupon:
        return cls(
            id=format_id("Coupon", row.id),
            code=row.code,
            doctor_id=format_optional_id("Doctor", row.doctor_id),
            kind=CouponKind(row.kind),
            value=row.value,
            currency=row.currency,
            valid_from=row.valid_from,
            valid_until=row.valid_until,
            max_uses=row.max_uses,
            max_uses_per_user=row.max_uses_per_user,
            used_count=row.used_count,
            active=row.active,
            created_at=row.created_at,
        )


@strawberry.type(description="The coupon cannot be used for this booking. Nothing was written.")
class CouponInvalid(UserError):
    reason: str = strawberry.field(
        description="UNKNOWN (also for a code of another doctor), NOT_YET_VALID, EXPIRED, "
        "WRONG_CURRENCY, USED_UP or USER_LIMIT."
    )


@strawberry.input(description="Create a coupon.")
class CreateCouponInput:
    code: str = strawberry.field(description="3-40 letters, digits, '-' or '_'.")
    kind: CouponKind = strawberry.field(description="PERCENT or FIXED.")
    value: Decimal = strawberry.field(description="Percentage 1-100, or an amount.")
    doctor_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Doctors: omit for their own. Admins: a doctor, or null for platform-wide.",
    )
    currency: str | None = strawberry.field(
        default=None, description="Required for FIXED; must match the doctor's."
    )
    valid_from: datetime | None = strawberry.field(default=None, description="Not before.")
    valid_until: datetime | None = strawberry.field(default=None, description="Expiry.")
    max_uses: int | None = strawberry.field(default=None, description="Total uses.")
    max_uses_per_user: int | None = strawberry.field(default=None, description="Per patient.")
    active: bool = strawberry.field(default=True, description="Usable now.")


@strawberry.input(description="Change a coupon; omitted fields stay.")
class UpdateCouponInput:
    id: strawberry.ID = strawberry.field(description="The coupon.")
    active: bool | None = strawberry.field(default=None, description="Usable now.")
    valid_from: datetime | None = strawberry.field(default=None, description="Not before.")
    valid_until: datetime | None = strawberry.field(default=None, description="Expiry.")
    max_uses: int | None = strawberry.field(default=None, description="Total uses.")
    max_uses_per_user: int | None = strawberry.field(default=None, description="Per patient.")


@strawberry.type(description="The coupon was saved.")
class CouponSaved:
    coupon: Coupon = strawberry.field(description="The coupon.")


CouponResult = Annotated[
    CouponSaved | ValidationError | NotAllowed | NotFoundError,
    strawberry.union("CouponResult", description="Result of createCoupon / updateCoupon."),
]


def _coupon_saved(row: CouponModel) -> CouponSaved:
    return CouponSaved(coupon=Coupon.from_model(row))


@strawberry.type
class CouponsQuery:
    @strawberry.field(
        description="Coupons: a doctor's own, all for admins; empty for everyone else."
    )
    async def coupons(
        self,
        info: GraphQLInfo,
        first: First = None,
        after: Annotated[str | None, strawberry.argument(description="Cursor.")] = None,
        doctor_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only this doctor's.")
        ] = None,
    ) -> Connection[Coupon]:
        page = await coupon_resolvers.list_coupons(
            info.context,
            parse_optional_id(doctor_id, "doctorId", of="Doctor"),
            first=first,
            after=after,
        )
        return connection_from_page(page, Coupon.from_model)


@strawberry.type
class CouponsMutation:
    @strawberry.mutation(description="Doctors (own) and admins: create a coupon.")
    async def create_coupon(
        self,
        info: GraphQLInfo,
        input: Annotated[CreateCouponInput, strawberry.argument(description="The input.")],
    ) -> CouponResult:
        return await mutation_result(
            lambda: coupon_resolvers.create_coupon(
                info.context,
                coupon_resolvers.CouponSpec(
                    code=input.code,
                    kind=input.kind.value,
                    value=input.value,
                    doctor_id=parse_optional_id(input.doctor_id, "doctorId", of="Doctor"),
                    currency=input.currency,
                    valid_from=input.valid_from,
                    valid_until=input.valid_until,
                    max_uses=input.max_uses,
                    max_uses_per_user=input.max_uses_per_user,
                    active=input.active,
                ),
            ),
            _coupon_saved,
        )

    @strawberry.mutation(description="Doctors (own) and admins: change a coupon.")
    async def update_coupon(
        self,
        info: GraphQLInfo,
        input: Annotated[UpdateCouponInput, strawberry.argument(description="The input.")],
    ) -> CouponResult:
        return await mutation_result(
            lambda: coupon_resolvers.update_coupon(
                info.context,
                parse_id(input.id, of="Coupon"),
                coupon_resolvers.CouponChanges(
                    active=input.active,
                    valid_from=input.valid_from,
                    valid_until=input.valid_until,
                    max_uses=input.max_uses,
                    max_uses_per_user=input.max_uses_per_user,
                ),
            ),
            _coupon_saved,
        )


register_node("Coupon", CouponByIdLoader, lambda _info, row: Coupon.from_model(row))
