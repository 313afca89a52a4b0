"""Coupons: doctors manage their own codes, admins any (and platform-wide ones); a code is
validated and redeemed only by a booking, never listed to patients."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models import Coupon, CouponUsage, Doctor
from resolvers import audit
from resolvers.core.context import Context
from resolvers.core.errors import CaregraphError, FieldErrors, Forbidden, NotFound, ValidationFailed
from resolvers.core.identity import Viewer
from resolvers.core.input_checks import money_problem
from resolvers.core.loaders import RowByIdLoader
from resolvers.core.pagination import Page, SortKey, page_size, paginate
from resolvers.policies import readable, require, visible
from resolvers.policies.appointments import coupon_policy

CODE_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9_-]{2,39}$")
CENT = Decimal("0.01")


class CouponInvalidError(CaregraphError):
    """The coupon code cannot be used for this booking; `reason` says why."""

    code = "COUPON_INVALID"

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def normalize_code(code: str) -> str:
    return code.strip().upper()


def discount_for(coupon: Coupon, price: Decimal) -> Decimal:
    """Percent or fixed, rounded to cents, never more than the price (never below zero)."""
    if coupon.kind == "percent":
        amount = (price * coupon.value / Decimal(100)).quantize(CENT, rounding=ROUND_HALF_UP)
    else:
        amount = coupon.value
    return max(Decimal("0.00"), min(amount, price))


async def redeem_coupon(
    session: AsyncSession,
    *,
    code: str,
    doctor: Doctor,
    user_id: uuid.UUID,
    price: Decimal,
    now: datetime,
) -> tuple[Coupon, Decimal]:
    """Validates `code` for this doctor and user, locking the coupon row so total and
    per-user limits hold under concurrent bookings; returns the coupon and its discount.
    The caller records the usage in the same transaction."""
    coupon = (
        await session.scalars(
            select(Coupon).where(Coupon.code == normalize_code(code)).with_for_update()
        )
    ).one_or_none()
    # Another doctor's code answers exactly like a made-up one: coupons are never listed,
    # so a booking must not reveal that a code exists elsewhere.
    foreign = coupon is not None and coupon.doctor_id not in (None, doctor.id)
    if coupon is None or foreign or not coupon.active:
        raise CouponInvalidError("This coupon code does not exist or is not active.", "UNKNOWN")
    if coupon.valid_from is not None and now < coupon.valid_from:
        raise CouponInvalidError("This coupon is not valid yet.", "NOT_YET_VALID")
    if coupon.valid_until is not None and now >= coupon.valid_until:
        raise CouponInvalidError("This coupon has expired.", "EXPIRED")
    if coupon.kind == "fixed" and coupon.currency != doctor.currency:
        raise CouponInvalidError(
            f"This coupon is in {coupon.currency}; the doctor charges {doctor.currency}.",
            "WRONG_CURRENCY",
        )
    if coupon.max_uses is not None and coupon.used_count >= coupon.max_uses:
        raise CouponInvalidError("This coupon has been used up.", "USED_UP")
    if coupon.max_uses_per_user is not None:
        used_by_user = await session.scalar(
            select(func.count())
            .select_from(CouponUsage)
            .where(CouponUsage.coupon_id == coupon.id, CouponUsage.user_id == user_id)
        )
        if (used_by_user or 0) >= coupon.max_uses_per_user:
            raise CouponInvalidError(
                "You have already used this coupon as often as allowed.", "USER_LIMIT"
            )
    return coupon, discount_for(coupon, price)


@dataclass(frozen=True)
class CouponSpec:
    code: str
    kind: str
    value: Decimal
    doctor_id: uuid.UUID | None = None
    currency: str | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    max_uses: int | None = None
    max_uses_per_user: int | None = None
    active: bool = True


def _validate(spec: CouponSpec) -> None:
    errors = FieldErrors()
    errors.check(
        bool(CODE_PATTERN.match(normalize_code(spec.code))),
        "code",
        "3-40 letters, digits, '-' or '_'",
    )
    errors.check(spec.kind in ("percent", "fixed"), "kind", "must be PERCENT or FIXED")
    problem = money_problem(spec.value, positive=True)
    if spec.kind == "percent" and spec.value.is_finite() and spec.value > 100:
        problem = "a percentage is at most 100"
    if problem is not None:
        errors.add("value", problem)
    if spec.kind == "percent":
        errors.check(spec.currency is None, "currency", "only for FIXED coupons")
    elif spec.kind == "fixed":
        errors.check(
            spec.currency is not None and bool(re.fullmatch(r"[A-Z]{3}", spec.currency)),
            "currency",
            "an ISO 4217 code is required for FIXED coupons",
        )
    if spec.valid_from and spec.valid_until:
        errors.check(spec.valid_until > spec.valid_from, "validUntil", "must be after validFrom")
    for name, limit in (("maxUses", spec.max_uses), ("maxUsesPerUser", spec.max_uses_per_user)):
        if limit is not None:
            errors.check(limit > 0, name, "must be positive")
    errors.raise_if_any()


_COUPON_FIELDS = ("code", "doctor_id", "kind", "value", "currency", "max_uses", "active")


async def create_coupon(ctx: Context, spec: CouponSpec) -> Coupon:
    viewer = ctx.viewer
    doctor_id = spec.doctor_id
    if doctor_id is None and not (viewer.is_admin or viewer.is_service):
        doctor_id = viewer.doctor_id
    if doctor_id is None and not (viewer.is_admin or viewer.is_service):
        raise Forbidden("Only doctors and admins create coupons.")
    require(
        coupon_policy.can_manage(viewer, doctor_id),
        "Doctors create coupons for themselves only.",
    )
    _validate(spec)
    try:
        async with ctx.db.transaction() as session:
            if doctor_id is not None:
                exists = await session.scalar(
                    select(Doctor.id).where(Doctor.id == doctor_id, readable(Doctor, viewer))
                )
                if exists is None:
                    raise NotFound("Doctor not found.")
            coupon = Coupon(
                code=normalize_code(spec.code),
                doctor_id=doctor_id,
                kind=spec.kind,
                value=spec.value.quantize(CENT),
                currency=spec.currency if spec.kind == "fixed" else None,
                valid_from=spec.valid_from,
                valid_until=spec.valid_until,
                max_uses=spec.max_uses,
                max_uses_per_user=spec.max_uses_per_user,
                active=spec.active,
                created_by=viewer.user_id,
            )
            session.add(coupon)
            await session.flush()
            audit.record(
                session,
                ctx,
                "coupon.create",
                "Coupon",
                coupon.id,
                after=audit.snapshot(coupon, *_COUPON_FIELDS),
            )
    except IntegrityError as error:
        if "uq_coupons_code" in str(error.orig):
            raise ValidationFailed.single("code", "is already taken") from error
        raise
    return coupon


@dataclass(frozen=True)
class CouponChanges:
    active: bool | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    max_uses: int | None = None
    max_uses_per_user: int | None = None


async def update_coupon(ctx: Context, coupon_id: uuid.UUID, changes: CouponChanges) -> Coupon:
    async with ctx.db.transaction() as session:
        coupon = (
            await session.scalars(
                visible(Coupon, ctx.viewer).where(Coupon.id == coupon_id).with_for_update()
            )
        ).one_or_none()
        if coupon is None:
            raise NotFound("Coupon not found.")
        require(coupon_policy.can_manage(ctx.viewer, coupon.doctor_id), "Not your coupon.")
        errors = FieldErrors()
        valid_from = changes.valid_from or coupon.valid_from
        valid_until = changes.valid_until or coupon.valid_until
        if valid_from and valid_until:
            errors.check(valid_until > valid_from, "validUntil", "must be after validFrom")
        if changes.max_uses is not None:
            errors.check(
                changes.max_uses >= max(1, coupon.used_count),
                "maxUses",
                f"must be positive and at least the {coupon.used_count} uses so far",
            )
        if changes.max_uses_per_user is not None:
            errors.check(changes.max_uses_per_user > 0, "maxUsesPerUser", "must be positive")
        errors.raise_if_any()
        changed = [name for name, value in vars(changes).items() if value is not None]
        before = audit.snapshot(coupon, *changed)
        for name in changed:
            setattr(coupon, name, getattr(changes, name))
        audit.record(
            session,
            ctx,
            "coupon.update",
            "Coupon",
            coupon.id,
            before=before,
            after=audit.snapshot(coupon, *changed),
        )
        await session.flush()
    return coupon


def _coupons_statement(viewer: Viewer, doctor_id: uuid.UUID | None) -> Select[Coupon]:
    statement = visible(Coupon, viewer)
    if doctor_id is not None:
        statement = statement.where(Coupon.doctor_id == doctor_id)
    return statement


async def list_coupons(
    ctx: Context, doctor_id: uuid.UUID | None, *, first: int | None, after: str | None
) -> Page[Coupon]:
    """Doctors see their own coupons, admins all; everyone else an empty list."""
    limit = page_size(
        first, default=ctx.settings.default_page_size, maximum=ctx.settings.max_page_size
    )
    return await paginate(
        ctx.db,
        ctx.viewer,
        "coupons" if doctor_id is None else None,
        Coupon,
        lambda viewer: _coupons_statement(viewer, doctor_id),
        SortKey((Coupon.created_at, Coupon.id), descending=True),  # type: ignore[arg-type]
        lambda coupon: (coupon.created_at, coupon.id),
        first=limit,
        after=after,
    )


class CouponByIdLoader(RowByIdLoader):
    model = Coupon
