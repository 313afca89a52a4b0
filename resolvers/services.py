"""The services catalog: what each doctor offers, and the intake questions a service asks.

Every doctor has two default services (STANDARD and FOLLOWUP, one per appointment type),
made by the database with the doctor row (migration 0016); doctors add their own: other
lengths and prices, video consultations, sessions that need their approval, and group
sessions that sell seats (capacity > 1). Services are never deleted, only deactivated:
appointments keep pointing at what was booked."""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models import Service
from models.enums import IntakeQuestionKind, ServiceConfirmation, ServiceMode, values
from resolvers import audit
from resolvers.core.context import Context
from resolvers.core.errors import FieldErrors, NotFound, ValidationFailed
from resolvers.core.input_checks import CENT, money_problem
from resolvers.core.loaders import PolicyLoader, RowByIdLoader
from resolvers.doctors import lock_doctor, target_doctor_id
from resolvers.policies import require, visible
from resolvers.policies.services import service_policy

MAX_SERVICES_PER_DOCTOR = 50
MAX_NAME_LENGTH = 120
MAX_DESCRIPTION_LENGTH = 4000
MAX_QUESTIONS = 20
MAX_PROMPT_LENGTH = 500
MAX_CHOICES = 20
MAX_CHOICE_LENGTH = 200
MAX_TEXT_ANSWER_LENGTH = 2000
QUESTION_KEY = re.compile(r"[a-z0-9_-]{1,40}")


@dataclass(frozen=True)
class IntakeQuestionSpec:
    prompt: str
    kind: str
    required: bool = False
    choices: tuple[str, ...] = ()
    key: str | None = None
    """A stable key for answers; `q1`, `q2`, ... by position when not given."""


@dataclass(frozen=True)
class IntakeAnswer:
    question_key: str
    text: str | None = None
    choice: str | None = None
    yes: bool | None = None


def _check_questions(
    errors: FieldErrors, questions: Sequence[IntakeQuestionSpec]
) -> list[dict[str, Any]]:
    """The questions as stored, with their problems added to `errors`."""
    errors.check(
        len(questions) <= MAX_QUESTIONS, "intakeQuestions", f"at most {MAX_QUESTIONS} questions"
    )
    stored: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, question in enumerate(questions):
        where = f"intakeQuestions[{index}]"
        key = question.key if question.key is not None else f"q{index + 1}"
        if not QUESTION_KEY.fullmatch(key):
            errors.add(f"{where}.key", "1-40 lowercase letters, digits, '-' or '_'")
        elif key in seen:
            errors.add(f"{where}.key", f"{key!r} is used by another question")
        seen.add(key)
        prompt = question.prompt.strip()
        errors.check(
            1 <= len(prompt) <= MAX_PROMPT_LENGTH,
            f"{where}.prompt",
            f"1 to {MAX_PROMPT_LENGTH} characters",
        )
        errors.check(
            question.kind in values(IntakeQuestionKind),
            f"{where}.kind",
            "must be TEXT, CHOICE or YES_NO",
        )
        choices = [choice.strip() for choice in question.choices]
        if question.kind == IntakeQuestionKind.CHOICE:
            errors.check(
                2 <= len(choices) <= MAX_CHOICES,
                f"{where}.choices",
                f"a choice question needs 2 to {MAX_CHOICES} choices",
            )
            errors.check(
                all(1 <= len(choice) <= MAX_CHOICE_LENGTH for choice in choices),
                f"{where}.choices",
                f"each choice 1 to {MAX_CHOICE_LENGTH} characters",
            )
            errors.check(
                len(set(choices)) == len(choices), f"{where}.choices", "choices must differ"
            )
        else:
            errors.check(not choices, f"{where}.choices", "only for CHOICE questions")
        stored.append(
            {
                "key": key,
                "prompt": prompt,
                "kind": question.kind,
                "required": question.required,
                "choices": choices,
            }
        )
    return stored


def check_intake_answers(
    questions: Sequence[dict[str, Any]], answers: Sequence[IntakeAnswer]
) -> list[dict[str, Any]]:
    """The answers as stored with the booking (each with the question as it was asked), or
    `ValidationFailed` naming each question that is unanswered, answered twice, unknown,
    or answered with the wrong kind of value: `intakeAnswers.<questionKey>`."""
    errors = FieldErrors()
    by_key = {question["key"]: question for question in questions}
    given: dict[str, IntakeAnswer] = {}
    for each in answers:
        where = f"intakeAnswers.{each.question_key}"
        if each.question_key not in by_key:
            errors.add(where, "is not a question of this service")
        elif each.question_key in given:
            errors.add(where, "is answered more than once")
        else:
            given[each.question_key] = each
    stored: list[dict[str, Any]] = []
    for question in questions:
        where = f"intakeAnswers.{question['key']}"
        answer = given.get(question["key"])
        value: str | bool | None = None
        if answer is not None:
            kinds_given = [
                name
                for name, given_value in (
                    ("text", answer.text),
                    ("choice", answer.choice),
                    ("yes", answer.yes),
                )
                if given_value is not None
            ]
            expected = {"text": "text", "choice": "choice", "yes_no": "yes"}[question["kind"]]
            if kinds_given not in ([], [expected]):
                errors.add(where, f"answer with `{expected}` only")
            elif question["kind"] == IntakeQuestionKind.TEXT and answer.text is not None:
                text = answer.text.strip()
                if len(text) > MAX_TEXT_ANSWER_LENGTH:
                    errors.add(where, f"at most {MAX_TEXT_ANSWER_LENGTH} characters")
                value = text or None
            elif question["kind"] == IntakeQuestionKind.CHOICE and answer.choice is not None:
                if answer.choice not in question["choices"]:
                    errors.add(where, "must be one of: " + ", ".join(question["choices"]))
                value = answer.choice
            elif question["kind"] == IntakeQuestionKind.YES_NO:
                value = answer.yes
        if value is None:
            if question["required"] and where not in errors.fields:
                errors.add(where, "is required")
            continue
        stored.append(
            {
                "question_key": question["key"],
                "prompt": question["prompt"],
                "kind": question["kind"],
                "answer": value,
            }
        )
    errors.raise_if_any()
    return stored


@dataclass(frozen=True)
class ServiceSpec:
    """A new service, or (with `None` for what stays) the changes to one."""

    name: str | None = None
    description: str | None = None
    duration_minutes: int | None = None
    buffer_minutes: int | None = None
    price: Decimal | None = None
    currency: str | None = None
    mode: str | None = None
    confirmation: str | None = None
    min_notice_minutes: int | None = None
    capacity: int | None = None
    intake_questions: tuple[IntakeQuestionSpec, ...] | None = None
    active: bool | None = None
    changes_only: bool = field(default=False, compare=False)


def _checked_values(spec: ServiceSpec, *, is_default: bool = False) -> dict[str, Any]:
    """The columns `spec` sets, validated: `ValidationFailed` naming every bad field."""
    errors = FieldErrors()
    columns: dict[str, Any] = {}
    if spec.name is not None:
        name = spec.name.strip()
        errors.check(
            1 <= len(name) <= MAX_NAME_LENGTH, "name", f"1 to {MAX_NAME_LENGTH} characters"
        )
        columns["name"] = name
    elif not spec.changes_only:
        errors.add("name", "is required")
    if spec.description is not None:
        errors.check(
            len(spec.description) <= MAX_DESCRIPTION_LENGTH,
            "description",
            f"at most {MAX_DESCRIPTION_LENGTH} characters",
        )
        columns["description"] = spec.description.strip()
    if spec.duration_minutes is not None:
        errors.check(5 <= spec.duration_minutes <= 480, "durationMinutes", "must be 5 to 480")
        columns["duration_minutes"] = spec.duration_minutes
    elif not spec.changes_only:
        errors.add("durationMinutes", "is required")
    if spec.buffer_minutes is not None:
        errors.check(0 <= spec.buffer_minutes <= 240, "bufferMinutes", "must be 0 to 240")
        columns["buffer_minutes"] = spec.buffer_minutes
    elif not spec.changes_only:
        columns["buffer_minutes"] = 0
    if spec.price is not None:
        problem = money_problem(spec.price)
        if problem is not None:
            errors.add("price", problem)
        else:
            columns["price"] = spec.price.quantize(CENT)
    elif not spec.changes_only:
        errors.add("price", "is required")
    if spec.currency is not None:
        errors.check(bool(re.fullmatch(r"[A-Z]{3}", spec.currency)), "currency", "an ISO 4217 code")
        columns["currency"] = spec.currency
    if spec.mode is not None:
        errors.check(spec.mode in values(ServiceMode), "mode", "must be IN_PERSON or VIDEO")
        columns["mode"] = spec.mode
    if spec.confirmation is not None:
        errors.check(
            spec.confirmation in values(ServiceConfirmation),
            "confirmation",
            "must be AUTOMATIC or APPROVAL",
        )
        columns["confirmation"] = spec.confirmation
    if spec.min_notice_minutes is not None:
        errors.check(
            0 <= spec.min_notice_minutes <= 43200,
            "minNoticeMinutes",
            "must be 0 to 43200 (30 days)",
        )
        columns["min_notice_minutes"] = spec.min_notice_minutes
    if spec.capacity is not None:
        errors.check(1 <= spec.capacity <= 500, "capacity", "must be 1 to 500")
        columns["capacity"] = spec.capacity
    if spec.intake_questions is not None:
        columns["intake_questions"] = _check_questions(errors, spec.intake_questions)
    if spec.active is not None:
        if is_default and not spec.active:
            errors.add("active", "a default service stays active (it is what `type` books)")
        columns["active"] = spec.active
    errors.raise_if_any()
    return columns


_AUDITED = (
    "name",
    "duration_minutes",
    "buffer_minutes",
    "price",
    "currency",
    "mode",
    "confirmation",
    "min_notice_minutes",
    "capacity",
    "active",
)


async def create_service(ctx: Context, doctor_id: uuid.UUID | None, spec: ServiceSpec) -> Service:
    """A new service for the viewer's own profile (or, for admins, `doctor_id`'s)."""
    target = target_doctor_id(ctx, doctor_id)
    columns = _checked_values(spec)
    async with ctx.db.transaction() as session:
        doctor = await lock_doctor(session, ctx.viewer, target)
        require(
            service_policy.can_manage(ctx.viewer, target),
            "Only the doctor or an admin manages these services.",
        )
        count = await _service_count(session, target)
        if count >= MAX_SERVICES_PER_DOCTOR:
            raise ValidationFailed.single(
                "name", f"a doctor offers at most {MAX_SERVICES_PER_DOCTOR} services"
            )
        columns.setdefault("currency", doctor.currency)
        service = Service(doctor_id=target, **columns)
        session.add(service)
        await session.flush()
        audit.record(
            session,
            ctx,
            "service.create",
            "Service",
            service.id,
            after=audit.snapshot(service, "doctor_id", *_AUDITED),
        )
    ctx.loaders.get(ServicesByDoctorIdLoader).clear(target)
    return service


async def _service_count(session: AsyncSession, doctor_id: uuid.UUID) -> int:
    count = await session.scalar(
        select(func.count()).select_from(Service).where(Service.doctor_id == doctor_id)
    )
    return count or 0


async def update_service(ctx: Context, service_id: uuid.UUID, spec: ServiceSpec) -> Service:
    """Changes what `spec` sets. A default service's price and currency are the doctor's
    fee and currency for its type (the database keeps both the same)."""
    async with ctx.db.transaction() as session:
        service = (
            await session.scalars(visible(Service, ctx.viewer).where(Service.id == service_id))
        ).one_or_none()
        if service is None:
            raise NotFound("Service not found.")
        await lock_doctor(session, ctx.viewer, service.doctor_id)
        require(
            service_policy.can_manage(ctx.viewer, service.doctor_id),
            "Only the doctor or an admin manages these services.",
        )
        await session.refresh(service, with_for_update=True)
        columns = _checked_values(spec, is_default=service.default_for is not None)
        changed = [name for name, value in columns.items() if getattr(service, name) != value]
        before = audit.snapshot(service, *changed)
        for name in changed:
            setattr(service, name, columns[name])
        await session.flush()
        if changed:
            audit.record(
                session,
                ctx,
                "service.update",
                "Service",
                service.id,
                before={name: before[name] for name in changed if name in _AUDITED},
                after={name: getattr(service, name) for name in changed if name in _AUDITED},
            )
    ctx.loaders.get(ServicesByDoctorIdLoader).clear(service.doctor_id)
    ctx.loaders.get(ServiceByIdLoader).replace(service.id, service)
    return service


class ServicesByDoctorIdLoader(PolicyLoader[uuid.UUID, list[Service]]):
    """The services of many doctors the viewer may read (active ones of verified doctors;
    a doctor's own and admins' all): one statement per batch. Defaults first, then by
    name."""

    async def batch_load_fn(self, keys: Sequence[uuid.UUID]) -> list[list[Service]]:
        rows = await self.visible_where_in(
            Service,
            Service.doctor_id,
            keys,
            Service.doctor_id,
            Service.default_for.is_(None),
            Service.default_for.desc(),  # STANDARD, then FOLLOWUP
            Service.name,
            Service.id,
        )
        grouped: dict[uuid.UUID, list[Service]] = defaultdict(list)
        for service in rows:
            grouped[service.doctor_id].append(service)
        return [grouped.get(key, []) for key in keys]


class ServiceByIdLoader(RowByIdLoader):
    model = Service
