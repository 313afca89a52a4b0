"""Fills a migrated caregraph database with a realistic dataset, in SQL.

Every table is filled by one `INSERT ... SELECT ... FROM generate_series(...)` in its own
transaction, so the full scale (20,000 patients, 500 doctors with their services, 200,000
appointments, 50,000 goals with about 200,000 check-ins, 500 lessons, 20,000 posts, 200,000
comments, 50,000 audit entries) takes well under a few minutes on 2 cores.

Ids are deterministic: `md5('<kind>:<n>')::uuid` in SQL, `bench_id(kind, n)` in Python,
so the runner and the tests know who is who without reading the data back.

A table is filled only while it is empty (the users only while no bench user exists, the
services only while no doctor has services other than its two defaults),
and a table that this branch's migrations have not created yet is skipped: after new
migrations land, running the generator again fills just the new tables.

    python -m bench.generate [--scale full|tiny] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

logger = logging.getLogger("bench.generate")

BENCH_EMAIL_DOMAIN = "bench.caregraph.dev"


def bench_id(kind: str, n: int) -> uuid.UUID:
    """The id the generator gave row `n` (from 1) of `kind`."""
    return uuid.UUID(hashlib.md5(f"{kind}:{n}".encode()).hexdigest())


def _id(kind: str, expression: str) -> str:
    """SQL for `bench_id(kind, expression)`."""
    return f"md5('{kind}:' || ({expression}))::uuid"


@dataclass(frozen=True)
class Scale:
    patients: int
    doctors: int
    coaches: int
    admins: int
    goals: int
    milestones_per_goal: int
    check_ins_per_goal: int
    appointments: int
    lessons: int
    lessons_per_module: int
    progress_per_patient: int
    posts: int
    comments: int
    post_likes: int
    comment_likes: int
    audit_entries: int

    @classmethod
    def full(cls) -> Scale:
        """The scale of issue 7."""
        return cls(
            patients=20_000,
            doctors=500,
            coaches=10,
            admins=3,
            goals=50_000,
            milestones_per_goal=3,
            check_ins_per_goal=8,
            appointments=200_000,
            lessons=500,
            lessons_per_module=20,
            progress_per_patient=5,
            posts=20_000,
            comments=200_000,
            post_likes=100_000,
            comment_likes=100_000,
            audit_entries=50_000,
        )

    @classmethod
    def tiny(cls) -> Scale:
        """For tests: every kind of row, a few of each."""
        return cls(
            patients=60,
            doctors=8,
            coaches=2,
            admins=6,  # six admin viewers for the smoke test's audit log
            goals=150,
            milestones_per_goal=3,
            check_ins_per_goal=4,
            appointments=400,
            lessons=12,
            lessons_per_module=4,
            progress_per_patient=2,
            posts=30,
            comments=150,
            post_likes=60,
            comment_likes=60,
            audit_entries=200,
        )


# Day 0 of the dataset (UTC midnight of the generation day): appointments spread from 30
# days before to 20 days after, goals started 60-120 days before.
ANCHOR_SQL = "date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"

FIRST_NAMES = [
    "Amira",
    "Omar",
    "Lena",
    "Yusuf",
    "Sara",
    "Karim",
    "Maya",
    "Hassan",
    "Noor",
    "Adam",
    "Layla",
    "Zaid",
    "Hana",
    "Rami",
    "Dina",
    "Tariq",
    "Mona",
    "Fadi",
    "Rana",
    "Samir",
    "Nadia",
    "Khalid",
    "Yara",
    "Bilal",
    "Salma",
]
LAST_NAMES = [
    "Haddad",
    "Khoury",
    "Nasser",
    "Saleh",
    "Aziz",
    "Rahman",
    "Farouk",
    "Mansour",
    "Najjar",
    "Hakim",
    "Karam",
    "Sabbagh",
    "Darwish",
    "Qasim",
    "Bishara",
    "Tamimi",
    "Jaber",
    "Shami",
    "Hijazi",
    "Awad",
]
SPECIALTIES = (
    "Cardiology",
    "Dermatology",
    "Endocrinology",
    "Family Medicine",
    "Gastroenterology",
    "Neurology",
    "Nutrition",
    "Orthopedics",
    "Pediatrics",
    "Psychiatry",
    "Pulmonology",
    "Sports Medicine",
)
LANGUAGES = ("Arabic", "French", "German", "Hindi", "Spanish", "Urdu")
TIMEZONES = ("Asia/Dubai", "Europe/London", "Europe/Berlin", "America/New_York", "Asia/Riyadh")


def _array(values: tuple[str, ...]) -> str:
    return "ARRAY[" + ", ".join("'" + value.replace("'", "''") + "'" for value in values) + "]"


def _pick(values: tuple[str, ...] | list[str], index: str) -> str:
    """SQL: values[index mod len] (1-based arrays)."""
    return f"({_array(tuple(values))})[(({index}) % {len(values)}) + 1]"


def _name(index: str) -> str:
    return f"{_pick(FIRST_NAMES, index)} || ' ' || {_pick(LAST_NAMES, f'({index}) / 7')}"


# --- table fillers ---------------------------------------------------------------------


@dataclass(frozen=True)
class Filler:
    """Fills `tables` (in one transaction) with `statements`; needs `columns` to exist."""

    name: str
    tables: tuple[str, ...]
    columns: dict[str, tuple[str, ...]]
    statements: Callable[[Scale], list[str]]
    is_filled: Callable[[asyncpg.Connection], Awaitable[bool]] | None = None


def _users(scale: Scale) -> list[str]:
    kinds = (
        ("patient", scale.patients, "patient"),
        ("doctor-user", scale.doctors, "doctor"),
        ("coach", scale.coaches, "coach"),
        ("admin", scale.admins, "admin"),
    )
    statements = []
    for offset, (kind, count, role) in enumerate(kinds):
        statements.append(
            f"""
            INSERT INTO users (id, email, full_name, phone, timezone, created_at, updated_at)
            SELECT {_id(kind, "n")},
                   '{kind}' || n || '@{BENCH_EMAIL_DOMAIN}',
                   {_name(f"n + {offset * 3}")},
                   '+9715' || lpad(n::text, 8, '0'),
                   {_pick(TIMEZONES, "n")},
                   {ANCHOR_SQL} - interval '400 days' + n * interval '1 minute',
                   {ANCHOR_SQL} - interval '400 days' + n * interval '1 minute'
              FROM generate_series(1, {count}) AS n
            """
        )
        statements.append(
            f"""
            INSERT INTO user_roles (user_id, role)
            SELECT {_id(kind, "n")}, '{role}' FROM generate_series(1, {count}) AS n
            """
        )
    return statements


async def _bench_users_exist(conn: asyncpg.Connection) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM users WHERE email = $1)",
            f"patient1@{BENCH_EMAIL_DOMAIN}",
        )
    )


def _fee(d: str) -> str:
    return f"(80 + (({d}) % 10) * 20)::numeric(10, 2)"


def _doctors(scale: Scale) -> list[str]:
    n_spec = len(SPECIALTIES)
    return [
        f"""
        INSERT INTO doctors (id, user_id, full_name, specialties, languages, bio,
                             qualifications, fee_standard, fee_followup, currency, rating_avg,
                             rating_count, photo_url, verified, accepting_patients, timezone,
                             cancellation_policy_hours, created_at, updated_at)
        SELECT {_id("doctor", "n")},
               {_id("doctor-user", "n")},
               'Dr. ' || {_name("n * 3")} || ' ' || n,
               ARRAY[{_pick(SPECIALTIES, "n")},
                     {_pick(SPECIALTIES, f"n + 1 + (n / {n_spec}) % {n_spec - 1}")}],
               ARRAY['English', {_pick(LANGUAGES, "n")}],
               'Board-certified physician with ' || (5 + n % 25) || ' years of practice.',
               jsonb_build_array(jsonb_build_object('degree', 'MD', 'year', 1990 + n % 30)),
               {_fee("n")},
               ({_fee("n")} * 0.6)::numeric(10, 2),
               'USD',
               (2 + ((n * 37) % 300) / 100.0)::numeric(3, 2),
               (n * 13) % 400,
               'https://images.caregraph.dev/doctors/' || n || '.jpg',
               n % 10 <> 0,
               n % 7 <> 0,
               {_pick(TIMEZONES, "n")},
               24,
               {ANCHOR_SQL} - interval '300 days' + n * interval '1 hour',
               {ANCHOR_SQL} - interval '300 days' + n * interval '1 hour'
          FROM generate_series(1, {scale.doctors}) AS n
        """
    ]


def _availability(scale: Scale) -> list[str]:
    return [
        # Monday to Friday for everyone, Saturday mornings for every fourth doctor
        # (inactive for every eighth).
        f"""
        INSERT INTO doctor_availability (doctor_id, day_of_week, start_time, end_time,
                                         slot_minutes, buffer_minutes, max_patients_per_day,
                                         active)
        SELECT {_id("doctor", "n")}, day,
               make_time(8 + n % 3, 0, 0), make_time(16 + n % 3, 0, 0),
               (ARRAY[20, 30, 45])[(n % 3) + 1], (ARRAY[0, 5, 10])[(n % 3) + 1],
               CASE WHEN n % 5 = 0 THEN 10 END, true
          FROM generate_series(1, {scale.doctors}) AS n, generate_series(1, 5) AS day
        UNION ALL
        SELECT {_id("doctor", "n")}, 6, time '09:00', time '13:00', 30, 0, NULL, n % 8 <> 0
          FROM generate_series(1, {scale.doctors}) AS n
         WHERE n % 4 = 0
        """,
        f"""
        INSERT INTO availability_exceptions (doctor_id, date, kind, start_time, end_time,
                                             reason)
        SELECT {_id("doctor", "n")},
               ({ANCHOR_SQL})::date + ((n * 7 + k * 11) % 60),
               CASE WHEN k % 2 = 0 THEN 'blocked' ELSE 'custom_hours' END,
               CASE WHEN k % 2 = 1 THEN time '10:00' END,
               CASE WHEN k % 2 = 1 THEN time '14:00' END,
               CASE WHEN k % 2 = 0 THEN 'Conference' ELSE 'Short day' END
          FROM generate_series(1, {scale.doctors}) AS n, generate_series(0, 3) AS k
        """,
    ]


def _services(scale: Scale) -> list[str]:
    # Every doctor has its two default services already: the database adds them when the
    # doctor row is inserted (migration 0016's trigger), priced at the doctor's fees, with
    # the length and buffer of the weekly slots (null duration and buffer). On top, a mix of
    # the doctor's own: a video consultation for every third doctor, an extended one that
    # needs a day's notice and the doctor's approval for every fourth, a video group
    # session of 8 seats with one intake question for every fifth, and an inactive home
    # visit (offered no more: only the doctor and admins see it) for every eighth.
    doctors = f"generate_series(1, {scale.doctors}) AS n"
    question = (
        "jsonb_build_array(jsonb_build_object('key', 'q1', 'prompt', "
        "'What would you like to focus on?', 'kind', 'text', 'required', false, "
        "'choices', jsonb_build_array()))"
    )
    columns = (
        "id, doctor_id, name, description, duration_minutes, buffer_minutes, price, "
        "currency, mode, confirmation, min_notice_minutes, capacity, intake_questions, "
        "active, created_at, updated_at"
    )
    created = f"{ANCHOR_SQL} - interval '200 days' + n * interval '1 hour'"
    return [
        f"""
        INSERT INTO services ({columns})
        SELECT {_id("service", "n || ':1'")}, {_id("doctor", "n")}, 'Video consultation',
               'A consultation by video call.', 20, 5, ({_fee("n")} * 0.8)::numeric(10, 2),
               'USD', 'video', 'automatic', 60, 1, '[]'::jsonb, true, {created}, {created}
          FROM {doctors} WHERE n % 3 = 0
        UNION ALL
        SELECT {_id("service", "n || ':2'")}, {_id("doctor", "n")}, 'Extended consultation',
               'An hour for a complex case: the doctor confirms the booking.', 60, 10,
               ({_fee("n")} * 1.5)::numeric(10, 2), 'USD', 'in_person', 'approval', 1440, 1,
               '[]'::jsonb, true, {created}, {created}
          FROM {doctors} WHERE n % 4 = 1
        UNION ALL
        SELECT {_id("service", "n || ':3'")}, {_id("doctor", "n")},
               'Group session: ' || {_pick(SPECIALTIES, "n")},
               'A small group with the doctor, by video.', 90, 15, 25.00, 'USD', 'video',
               'automatic', 120, 8, {question}, true, {created}, {created}
          FROM {doctors} WHERE n % 5 = 2
        UNION ALL
        SELECT {_id("service", "n || ':4'")}, {_id("doctor", "n")}, 'Home visit',
               'No longer offered.', 45, 15, ({_fee("n")} * 2)::numeric(10, 2), 'USD',
               'in_person', 'approval', 2880, 1, '[]'::jsonb, false, {created}, {created}
          FROM {doctors} WHERE n % 8 = 0
        """
    ]


async def _custom_services_exist(conn: asyncpg.Connection) -> bool:
    """The default services come with the doctors (a trigger): the filler's own rows are
    the ones without `default_for`."""
    return bool(
        await conn.fetchval("SELECT EXISTS (SELECT 1 FROM services WHERE default_for IS NULL)")
    )


GOAL_TYPES = ("improvement", "habit", "maintenance", "prevention")
GOAL_METRICS = (("Weight", "kg"), ("Daily steps", "k steps"), ("Blood pressure", "mmHg"))
MOODS = ("great", "good", "okay", "struggling")


def _goal_status(n: str) -> str:
    return (
        f"(CASE WHEN ({n}) % 10 < 6 THEN 'active' WHEN ({n}) % 10 < 8 THEN 'completed' "
        f"WHEN ({n}) % 10 = 8 THEN 'paused' ELSE 'abandoned' END)"
    )


def _goals(scale: Scale) -> list[str]:
    metric_names = tuple(metric for metric, _ in GOAL_METRICS)
    units = tuple(unit for _, unit in GOAL_METRICS)
    baseline = "(50 + n % 50)"
    # Decrease, increase, keep, and a small increase.
    delta = "(ARRAY[-10, 20, 0, 5])[(n % 4) + 1]"
    start = f"(({ANCHOR_SQL})::date - (60 + n % 60))"
    # The newest check-in's share of the way (k runs 0 .. min(per goal - 1, n % 9)).
    progress = f"0.1 * LEAST({scale.check_ins_per_goal - 1}, n % 9)"
    has_check_ins = "n % 9 <> 8"
    return [
        f"""
        INSERT INTO goals (id, owner_id, title, description, type, status, metric, unit,
                           baseline_value, target_value, current_value, start_date,
                           target_date, check_in_frequency, importance, completed_at,
                           created_at, updated_at)
        SELECT {_id("goal", "n")},
               {_id("patient", f"((n - 1) % {scale.patients}) + 1")},
               {_pick(metric_names, "n")} || ' goal ' || n,
               'Reach the target step by step.',
               {_pick(GOAL_TYPES, "n")},
               {_goal_status("n")},
               {_pick(metric_names, "n")},
               {_pick(units, "n")},
               {baseline},
               {baseline} + {delta},
               CASE WHEN {has_check_ins}
                    THEN {baseline} + {delta} * {progress} ELSE {baseline} END,
               {start},
               {start} + 180,
               'weekly',
               (n % 5) + 1,
               CASE WHEN {_goal_status("n")} = 'completed'
                    THEN ({start} + 100)::timestamp AT TIME ZONE 'UTC' END,
               {ANCHOR_SQL} - n * interval '37 seconds',
               {ANCHOR_SQL} - n * interval '37 seconds'
          FROM generate_series(1, {scale.goals}) AS n
        """,
        # Check-ins k = 0 .. min(7, n % 9), weekly from the start (none when n % 9 = 8);
        # the newest one carries the goal's current value.
        f"""
        INSERT INTO goal_check_ins (id, goal_id, date, value, note, mood, adherence,
                                    created_at, updated_at)
        SELECT {_id("check-in", "n || ':' || k")},
               {_id("goal", "n")},
               {start} + 7 * k,
               {baseline} + {delta} * 0.1 * k,
               CASE WHEN k % 3 = 0 THEN 'Felt good today.' ELSE '' END,
               {_pick(MOODS, "n + k")},
               50 + (n * 7 + k * 13) % 51,
               ({start} + 7 * k)::timestamp AT TIME ZONE 'UTC' + interval '20 hours',
               ({start} + 7 * k)::timestamp AT TIME ZONE 'UTC' + interval '20 hours'
          FROM generate_series(1, {scale.goals}) AS n,
               generate_series(0, {scale.check_ins_per_goal - 1}) AS k
         WHERE {has_check_ins} AND k <= LEAST({scale.check_ins_per_goal - 1}, n % 9)
        """,
        f"""
        INSERT INTO goal_milestones (id, goal_id, title, description, target_date,
                                     target_value, reward, position, completed,
                                     completed_at, created_at, updated_at)
        SELECT {_id("milestone", "n || ':' || k")},
               {_id("goal", "n")},
               'Milestone ' || (k + 1),
               '',
               {start} + 60 * (k + 1),
               {baseline} + {delta} * (k + 1) / {scale.milestones_per_goal},
               CASE WHEN k = 0 THEN 'A new book' ELSE '' END,
               k,
               k < n % 3,
               CASE WHEN k < n % 3
                    THEN ({start} + 50 * (k + 1))::timestamp AT TIME ZONE 'UTC' END,
               {ANCHOR_SQL} - n * interval '37 seconds',
               {ANCHOR_SQL} - n * interval '37 seconds'
          FROM generate_series(1, {scale.goals}) AS n,
               generate_series(0, {scale.milestones_per_goal - 1}) AS k
        """,
    ]


def appointment_slot(scale: Scale, n: int) -> tuple[int, int, int]:
    """(doctor n, patient n, hours after day 0) of appointment `n` (from 0), as in SQL."""
    doctor = n % scale.doctors + 1
    k = n // scale.doctors
    patient = (n * 7919) % scale.patients + 1
    return doctor, patient, (k // 8 - 30) * 24 + 9 + k % 8


def _appointments(scale: Scale) -> list[str]:
    # Appointment n (0-based): doctor n % D, the k-th of that doctor, 8 a day from 09:00
    # UTC, from 30 days before day 0 onwards; patients spread by a large prime.
    doctor = f"(n % {scale.doctors}) + 1"
    k = f"(n / {scale.doctors})"
    starts = f"({ANCHOR_SQL} + (({k} / 8 - 30) * 24 + 9 + {k} % 8) * interval '1 hour')"
    past = f"{starts} < now()"
    # Varies along each doctor's schedule (n % 10 alone is fixed per doctor).
    mix = f"(({k}) * 3 + n) % 10"
    status = (
        f"CASE WHEN {past} THEN (ARRAY['completed', 'completed', 'completed', 'completed', "
        f"'completed', 'completed', 'completed', 'completed', 'cancelled', 'no_show'])"
        f"[{mix} + 1] ELSE (ARRAY['confirmed', 'confirmed', 'confirmed', 'confirmed', "
        f"'confirmed', 'confirmed', 'confirmed', 'pending_payment', 'pending_payment', "
        f"'cancelled'])[{mix} + 1] END"
    )
    followup = "n % 3 = 2"
    price = (
        f"CASE WHEN {followup} THEN ({_fee(doctor)} * 0.6)::numeric(10, 2) ELSE {_fee(doctor)} END"
    )
    return [
        f"""
        INSERT INTO appointments (id, doctor_id, patient_id, starts_at, ends_at, type, status,
                                  price, discount, currency, notes, meeting_link,
                                  cancellation_reason, cancelled_by, cancelled_at,
                                  created_at, updated_at, service_id)
        SELECT {_id("appointment", "n")},
               {_id("doctor", doctor)},
               {_id("patient", f"(n * 7919) % {scale.patients} + 1")},
               {starts},
               {starts} + interval '30 minutes',
               CASE WHEN {followup} THEN 'followup' ELSE 'standard' END,
               {status},
               {price},
               0,
               'USD',
               CASE WHEN n % 4 = 0 THEN 'Follow-up on lab results.' ELSE '' END,
               'https://meet.caregraph.dev/' || n,
               CASE WHEN {status} = 'cancelled' THEN 'Schedule conflict' END,
               CASE WHEN {status} = 'cancelled'
                    THEN {_id("patient", f"(n * 7919) % {scale.patients} + 1")} END,
               CASE WHEN {status} = 'cancelled' THEN {starts} - interval '2 days' END,
               {starts} - interval '7 days',
               {starts} - interval '7 days',
               -- the doctor's default service of the type (as a booking names it)
               (SELECT s.id FROM services s
                 WHERE s.doctor_id = {_id("doctor", doctor)}
                   AND s.default_for = CASE WHEN {followup} THEN 'followup' ELSE 'standard' END)
          FROM generate_series(0, {scale.appointments - 1}) AS n
        """
    ]


def _payments(_scale: Scale) -> list[str]:
    # One paid payment for every confirmed, completed or no-show appointment.
    return [
        """
        INSERT INTO payments (appointment_id, amount, currency, status, provider,
                              provider_ref, paid_at, created_at, updated_at)
        SELECT a.id, a.price - a.discount, a.currency, 'paid', 'stripe',
               'pi_' || replace(a.id::text, '-', ''), a.created_at, a.created_at,
               a.created_at
          FROM appointments a
         WHERE a.status IN ('confirmed', 'completed', 'no_show') AND a.price > a.discount
        """
    ]


def _notifications(_scale: Scale) -> list[str]:
    # Each patient's inbox, as the booking rules write it: a confirmation for each
    # appointment that went ahead, a cancellation for each cancelled one (an hour after the
    # booking, whole seconds); read once the appointment has passed.
    return [
        """
        INSERT INTO notifications (user_id, kind, subject_type, subject_id, actor_role, data,
                                   created_at, read_at)
        SELECT a.patient_id,
               CASE WHEN a.status = 'cancelled' THEN 'booking_cancelled'
                    ELSE 'booking_confirmed' END,
               'Appointment', a.id,
               CASE WHEN a.status = 'cancelled' THEN 'patient' ELSE 'service' END,
               jsonb_build_object(
                   'startsAt', to_char(a.starts_at AT TIME ZONE 'UTC',
                                       'YYYY-MM-DD"T"HH24:MI:SS"+00:00"'),
                   'reference', a.reference),
               a.created_at + interval '1 hour',
               CASE WHEN a.starts_at < now() THEN a.created_at + interval '2 hours' END
          FROM appointments a
         WHERE a.status <> 'pending_payment'
        """
    ]


def _lessons(scale: Scale) -> list[str]:
    per_module = scale.lessons_per_module
    return [
        f"""
        INSERT INTO lessons (id, slug, title, description, module, position, duration_sec,
                             video_id, chapters, tags, published, paywall, created_at,
                             updated_at)
        SELECT {_id("lesson", "n")},
               'module-' || ((n - 1) / {per_module} + 1) || '-lesson-' || n,
               'Lesson ' || n || ': ' || {_pick(GOAL_TYPES, "n")} || ' basics',
               'What you need to know, in a few minutes.',
               'Module ' || lpad((((n - 1) / {per_module}) + 1)::text, 3, '0'),
               (n - 1) % {per_module},
               300 + (n * 17) % 900,
               'vid_' || n,
               jsonb_build_array(
                   jsonb_build_object('title', 'Intro', 'startSec', 0),
                   jsonb_build_object('title', 'Practice', 'startSec', 120)),
               ARRAY[{_pick(GOAL_TYPES, "n")}],
               n % 10 <> 0,
               n % 3 = 0,
               {ANCHOR_SQL} - interval '200 days' + n * interval '1 hour',
               {ANCHOR_SQL} - interval '200 days' + n * interval '1 hour'
          FROM generate_series(1, {scale.lessons}) AS n
        """
    ]


def _lesson_progress(scale: Scale) -> list[str]:
    # Patient n watched lessons n + 101k (mod the lesson count): distinct for k < 5.
    lesson = f"((n + k * 101) % {scale.lessons}) + 1"
    return [
        f"""
        INSERT INTO lesson_progress (user_id, lesson_id, position_sec, completed,
                                     completed_at, last_watched_at, created_at, updated_at)
        SELECT {_id("patient", "n")},
               {_id("lesson", lesson)},
               (n * 31 + k) % 600,
               (n + k) % 3 = 0,
               CASE WHEN (n + k) % 3 = 0 THEN {ANCHOR_SQL} - k * interval '1 day' END,
               {ANCHOR_SQL} - k * interval '1 day',
               {ANCHOR_SQL} - k * interval '1 day',
               {ANCHOR_SQL} - k * interval '1 day'
          FROM generate_series(1, {scale.patients}) AS n,
               generate_series(0, {scale.progress_per_patient - 1}) AS k
        """
    ]


def _entitlements(scale: Scale) -> list[str]:
    return [
        f"""
        INSERT INTO entitlements (user_id, product, valid_until)
        SELECT {_id("patient", "n")}, 'lessons', NULL
          FROM generate_series(1, {scale.patients}) AS n
         WHERE n % 4 = 0
        """
    ]


def _posts(scale: Scale) -> list[str]:
    hidden = "n % 50 = 0"
    return [
        f"""
        INSERT INTO posts (id, author_id, title, body, tags, published, pinned, hidden,
                           hidden_at, hidden_by, created_at, updated_at)
        SELECT {_id("post", "n")},
               {_id("patient", f"(n * 13) % {scale.patients} + 1")},
               'How I keep going, week ' || n,
               'Small steps every day. Here is what worked for me this week (' || n || ').',
               ARRAY[{_pick(GOAL_TYPES, "n")}],
               n % 20 <> 0,
               n <= 3,
               {hidden},
               CASE WHEN {hidden} THEN {ANCHOR_SQL} END,
               CASE WHEN {hidden} THEN {_id("coach", "1")} END,
               {ANCHOR_SQL} - n * interval '2 minutes',
               {ANCHOR_SQL} - n * interval '2 minutes'
          FROM generate_series(1, {scale.posts}) AS n
        """
    ]


def _comments(scale: Scale) -> list[str]:
    top = scale.comments * 7 // 10
    replies = scale.comments - top
    hidden = "n % 97 = 0"
    post_of_top = f"((m - 1) % {scale.posts}) + 1"
    return [
        f"""
        INSERT INTO comments (id, post_id, parent_id, author_id, body, hidden, hidden_at,
                              hidden_by, created_at, updated_at)
        SELECT {_id("comment", "n")},
               {_id("post", f"((n - 1) % {scale.posts}) + 1")},
               NULL,
               {_id("patient", f"(n * 31) % {scale.patients} + 1")},
               'Thanks for sharing! (' || n || ')',
               {hidden},
               CASE WHEN {hidden} THEN {ANCHOR_SQL} END,
               CASE WHEN {hidden} THEN {_id("coach", "1")} END,
               {ANCHOR_SQL} - interval '1 day' + n * interval '1 second',
               {ANCHOR_SQL} - interval '1 day' + n * interval '1 second'
          FROM generate_series(1, {top}) AS n
        """,
        f"""
        INSERT INTO comments (id, post_id, parent_id, author_id, body, hidden, hidden_at,
                              hidden_by, created_at, updated_at)
        SELECT {_id("reply", "n")},
               {_id("post", post_of_top)},
               {_id("comment", "m")},
               {_id("patient", f"(n * 37) % {scale.patients} + 1")},
               'Agreed (' || n || ').',
               {hidden},
               CASE WHEN {hidden} THEN {ANCHOR_SQL} END,
               CASE WHEN {hidden} THEN {_id("coach", "1")} END,
               {ANCHOR_SQL} + n * interval '1 second',
               {ANCHOR_SQL} + n * interval '1 second'
          FROM generate_series(1, {replies}) AS n,
               LATERAL (SELECT ((n - 1) % {top}) + 1 AS m) AS parent
        """,
    ]


def _likes(scale: Scale) -> list[str]:
    top = scale.comments * 7 // 10
    # Item i gets likes from users (j + 13 i) mod P for j = 0, 1, ...: distinct per item.
    return [
        f"""
        INSERT INTO post_likes (post_id, user_id, created_at)
        SELECT {_id("post", f"((n - 1) % {scale.posts}) + 1")},
               {_id("patient", f"(((n - 1) / {scale.posts}) + 13 * n) % {scale.patients} + 1")},
               {ANCHOR_SQL} - n * interval '1 second'
          FROM generate_series(1, {scale.post_likes}) AS n
        """,
        f"""
        INSERT INTO comment_likes (comment_id, user_id, created_at)
        SELECT {_id("comment", f"((n - 1) % {top}) + 1")},
               {_id("patient", f"(((n - 1) / {top}) + 17 * n) % {scale.patients} + 1")},
               {ANCHOR_SQL} - n * interval '1 second'
          FROM generate_series(1, {scale.comment_likes}) AS n
        """,
    ]


# What audited writes look like (resolvers/audit.py `record`): entry n is kind n % 20.
# Doctors write most (appointment outcomes, meeting links, schedule, profile, services),
# coaches moderate and edit lessons, admins verify doctors and grant, and payments recorded
# by the provider's webhook have no actor (service_role).
AUDIT_KINDS = (
    ("doctor", "appointment.completed", "Appointment"),
    ("doctor", "appointment.completed", "Appointment"),
    ("doctor", "appointment.completed", "Appointment"),
    ("doctor", "appointment.completed", "Appointment"),
    ("doctor", "appointment.no_show", "Appointment"),
    ("doctor", "appointment.cancelled", "Appointment"),
    ("doctor", "appointment.set_meeting_link", "Appointment"),
    ("doctor", "availability.add_exception", "AvailabilityException"),
    ("doctor", "availability.set_rules", "Doctor"),
    ("doctor", "doctor.update", "Doctor"),
    ("doctor", "service.update", "Service"),
    ("coach", "post.hide", "Post"),
    ("coach", "comment.hide", "Comment"),
    ("coach", "report.resolve", "Report"),
    ("coach", "lesson.update", "Lesson"),
    ("admin", "doctor.verify", "Doctor"),
    ("admin", "entitlement.grant", "Entitlement"),
    ("admin", "role.grant", "User"),
    ("admin", "payment.refund", "Payment"),
    ("service", "payment.record", "Payment"),
)


def _audit_log(scale: Scale) -> list[str]:
    # Entries over the 90 days before day 0, newest first by n, in whole seconds; each
    # doctor's entries are on that doctor's own appointments, profile and services.
    kinds = ", ".join(
        f"({k}, '{role}', '{action}', '{target}')"
        for k, (role, action, target) in enumerate(AUDIT_KINDS)
    )
    seconds = max(1, 90 * 86_400 // scale.audit_entries)
    doctor = f"((n * 7) % {scale.doctors} + 1)"
    per_doctor = max(1, scale.appointments // scale.doctors)
    appointment = _id("appointment", f"({doctor} - 1) + {scale.doctors} * (n % {per_doctor})")
    patient = _id("patient", f"(n * 13) % {scale.patients} + 1")
    fee = _fee(doctor)
    top_comments = scale.comments * 7 // 10
    status_change = (
        "jsonb_build_object('before', jsonb_build_object('status', 'confirmed'), "
        "'after', jsonb_build_object('status', {to}, 'reason', {reason}::text))"
    )
    flag = (
        "jsonb_build_object('before', jsonb_build_object('{name}', false), "
        "'after', jsonb_build_object('{name}', true))"
    )
    rules = (
        "(SELECT jsonb_build_object('rules', jsonb_agg(jsonb_build_object("
        "'day_of_week', dw, 'start_time', '09:00:00', 'end_time', '17:00:00', "
        "'active', true) ORDER BY dw)) FROM generate_series(1, 5) AS dw)"
    )
    return [
        f"""
        INSERT INTO audit_log (id, actor_id, actor_role, action, target_type, target_id,
                               changes, request_id, created_at)
        WITH kinds (k, role, action, target_type) AS (VALUES {kinds})
        SELECT {_id("audit", "n")},
               CASE kinds.role
                    WHEN 'doctor' THEN {_id("doctor-user", doctor)}
                    WHEN 'coach' THEN {_id("coach", f"n % {scale.coaches} + 1")}
                    WHEN 'admin' THEN {_id("admin", f"n % {scale.admins} + 1")} END,
               kinds.role, kinds.action, kinds.target_type,
               CASE kinds.target_type
                    WHEN 'Appointment' THEN {appointment}
                    WHEN 'AvailabilityException' THEN {_id("audit-exception", "n")}
                    WHEN 'Doctor' THEN {_id("doctor", doctor)}
                    WHEN 'Service' THEN {_id("service", f"{doctor} || ':1'")}
                    WHEN 'Post' THEN {_id("post", f"n % {scale.posts} + 1")}
                    WHEN 'Comment' THEN {_id("comment", f"n % {top_comments} + 1")}
                    WHEN 'Report' THEN {_id("report", "n")}
                    WHEN 'Lesson' THEN {_id("lesson", f"n % {scale.lessons} + 1")}
                    WHEN 'Entitlement' THEN {_id("entitlement", "n")}
                    WHEN 'User' THEN {patient}
                    WHEN 'Payment' THEN {_id("payment", "n")} END,
               CASE kinds.action
                    WHEN 'appointment.completed'
                    THEN {status_change.format(to="'completed'", reason="NULL")}
                    WHEN 'appointment.no_show'
                    THEN {status_change.format(to="'no_show'", reason="NULL")}
                    WHEN 'appointment.cancelled'
                    THEN {status_change.format(to="'cancelled'", reason="'Doctor unavailable'")}
                    WHEN 'appointment.set_meeting_link'
                    THEN jsonb_build_object(
                        'before', jsonb_build_object('meeting_link', NULL::text),
                        'after', jsonb_build_object(
                            'meeting_link', 'https://meet.caregraph.dev/r/' || n))
                    WHEN 'availability.add_exception'
                    THEN jsonb_build_object('after', jsonb_build_object(
                        'doctor_id', {_id("doctor", doctor)}::text,
                        'date', (({ANCHOR_SQL})::date + n % 30)::text,
                        'kind', 'blocked', 'start_time', NULL::text, 'end_time', NULL::text))
                    WHEN 'availability.set_rules' THEN {rules}
                    WHEN 'doctor.update'
                    THEN jsonb_build_object(
                        'before', jsonb_build_object('bio', 'Board-certified physician.'),
                        'after', jsonb_build_object(
                            'bio', 'Board-certified physician with ' || (5 + n % 25)
                                   || ' years of practice.'))
                    WHEN 'service.update'
                    THEN jsonb_build_object(
                        'before', jsonb_build_object('price', ({fee} * 0.8)::numeric(10, 2)::text),
                        'after', jsonb_build_object('price', ({fee} * 0.9)::numeric(10, 2)::text))
                    WHEN 'post.hide' THEN {flag.format(name="hidden")}
                    WHEN 'comment.hide' THEN {flag.format(name="hidden")}
                    WHEN 'report.resolve'
                    THEN jsonb_build_object(
                        'before', jsonb_build_object('status', 'pending'),
                        'after', jsonb_build_object(
                            'status', 'actioned', 'action', 'hide', 'target_type', 'comment',
                            'target_id', {_id("comment", f"n % {top_comments} + 1")}::text))
                    WHEN 'lesson.update'
                    THEN jsonb_build_object(
                        'before', jsonb_build_object('title', 'Lesson ' || n % {scale.lessons}),
                        'after', jsonb_build_object(
                            'title', 'Lesson ' || n % {scale.lessons} || ', revised'))
                    WHEN 'doctor.verify' THEN {flag.format(name="verified")}
                    WHEN 'entitlement.grant'
                    THEN jsonb_build_object('after', jsonb_build_object(
                        'user_id', {patient}::text, 'product', 'lessons',
                        'valid_until', NULL::text))
                    WHEN 'role.grant'
                    THEN jsonb_build_object(
                        'before', jsonb_build_object('roles', jsonb_build_array('patient')),
                        'after', jsonb_build_object(
                            'roles', jsonb_build_array('coach', 'patient')))
                    WHEN 'payment.refund'
                    THEN jsonb_build_object(
                        'before', jsonb_build_object('status', 'paid'),
                        'after', jsonb_build_object('status', 'refunded', 'refund', {fee}::text))
                    WHEN 'payment.record'
                    THEN jsonb_build_object('after', jsonb_build_object(
                        'appointment_id', {appointment}::text, 'amount', {fee}::text,
                        'currency', 'USD', 'status', 'paid', 'method', 'card'))
               END,
               md5('request:' || n),
               {ANCHOR_SQL} - n * interval '{seconds} seconds'
          FROM generate_series(1, {scale.audit_entries}) AS n
          JOIN kinds ON kinds.k = n % {len(AUDIT_KINDS)}
        """
    ]


FILLERS: tuple[Filler, ...] = (
    Filler(
        "users",
        ("users", "user_roles"),
        {"users": ("id", "email", "full_name", "phone", "timezone")},
        _users,
        _bench_users_exist,
    ),
    Filler(
        "doctors",
        ("doctors",),
        {"doctors": ("user_id", "specialties", "rating_avg", "verified")},
        _doctors,
    ),
    Filler(
        "availability",
        ("doctor_availability", "availability_exceptions"),
        {"doctor_availability": ("day_of_week", "max_patients_per_day")},
        _availability,
    ),
    Filler(
        "services",
        ("services",),
        {"services": ("doctor_id", "duration_minutes", "mode", "capacity", "default_for")},
        _services,
        _custom_services_exist,
    ),
    Filler(
        "goals",
        ("goals", "goal_check_ins", "goal_milestones"),
        {"goals": ("owner_id", "current_value", "check_in_frequency")},
        _goals,
    ),
    Filler(
        "appointments",
        ("appointments",),
        {"appointments": ("doctor_id", "patient_id", "cancelled_by", "meeting_link", "service_id")},
        _appointments,
    ),
    Filler(
        "payments",
        ("payments",),
        {"payments": ("appointment_id", "amount", "provider", "provider_ref", "paid_at")},
        _payments,
    ),
    Filler(
        "notifications",
        ("notifications",),
        {"notifications": ("user_id", "kind", "subject_id", "data", "read_at")},
        _notifications,
    ),
    Filler(
        "lessons",
        ("lessons",),
        {"lessons": ("slug", "module", "position", "video_id", "chapters", "paywall")},
        _lessons,
    ),
    Filler(
        "lesson_progress",
        ("lesson_progress",),
        {"lesson_progress": ("user_id", "lesson_id", "position_sec", "last_watched_at")},
        _lesson_progress,
    ),
    Filler(
        "entitlements",
        ("entitlements",),
        {"entitlements": ("user_id", "product", "valid_until")},
        _entitlements,
    ),
    Filler(
        "posts",
        ("posts",),
        {"posts": ("author_id", "title", "body", "tags", "published", "pinned", "hidden")},
        _posts,
    ),
    Filler(
        "comments",
        ("comments",),
        {"comments": ("post_id", "parent_id", "author_id", "hidden")},
        _comments,
    ),
    Filler(
        "likes",
        ("post_likes", "comment_likes"),
        {"post_likes": ("post_id", "user_id"), "comment_likes": ("comment_id", "user_id")},
        _likes,
    ),
    Filler(
        "audit_log",
        ("audit_log",),
        {"audit_log": ("actor_id", "actor_role", "action", "target_type", "changes")},
        _audit_log,
    ),
)


# --- running ---------------------------------------------------------------------------


def connect_arguments(database_url: str) -> dict[str, Any]:
    """asyncpg's connection arguments for a `postgresql://` URL (socket directory in
    `?host=`)."""
    url = make_url(database_url)
    return {
        "user": url.username,
        "password": url.password or None,
        "host": url.query.get("host") or url.host,
        "port": url.port,
        "database": url.database,
    }


async def connect(database_url: str) -> asyncpg.Connection:
    """asyncpg connection from a `postgresql://` URL."""
    return await asyncpg.connect(**connect_arguments(database_url))


async def _columns(conn: asyncpg.Connection, table: str) -> set[str]:
    rows = await conn.fetch(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = $1",
        table,
    )
    return {row["column_name"] for row in rows}


async def _skip_reason(conn: asyncpg.Connection, filler: Filler) -> str | None:
    for table in filler.tables:
        columns = await _columns(conn, table)
        if not columns:
            return f"table {table} does not exist (not migrated on this branch yet)"
        missing = set(filler.columns.get(table, ())) - columns
        if missing:
            return f"table {table} lacks columns {sorted(missing)}"
    if filler.is_filled is not None:
        filled = await filler.is_filled(conn)
    else:
        filled = bool(await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {filler.tables[0]})"))
    return "already filled" if filled else None


@dataclass
class Report:
    filled: dict[str, float]
    skipped: dict[str, str]


async def generate(database_url: str, scale: Scale, *, analyze: bool = True) -> Report:
    """Fills every empty table this database has; see the module docstring."""
    conn = await connect(database_url)
    report = Report(filled={}, skipped={})
    try:
        await conn.execute("SET synchronous_commit = off; SET TIME ZONE 'UTC'")
        for filler in FILLERS:
            reason = await _skip_reason(conn, filler)
            if reason is not None:
                report.skipped[filler.name] = reason
                logger.info("skip %s: %s", filler.name, reason)
                continue
            started = time.perf_counter()
            async with conn.transaction():
                for statement in filler.statements(scale):
                    await conn.execute(statement)
            report.filled[filler.name] = time.perf_counter() - started
            logger.info("filled %s in %.1f s", filler.name, report.filled[filler.name])
        if analyze and report.filled:
            await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return report


async def table_counts(database_url: str) -> dict[str, int]:
    conn = await connect(database_url)
    try:
        tables = sorted({table for filler in FILLERS for table in filler.tables})
        counts: dict[str, int] = {}
        for table in tables:
            if await _columns(conn, table):
                counts[table] = int(await conn.fetchval(f"SELECT count(*) FROM {table}"))
        return counts
    finally:
        await conn.close()


def default_database_url() -> str:
    """$BENCH_DATABASE_URL, else database `caregraph_bench` in the embedded Postgres."""
    import os
    from pathlib import Path

    if os.environ.get("BENCH_DATABASE_URL"):
        return os.environ["BENCH_DATABASE_URL"]
    from server import embedded_postgres_uri

    return embedded_postgres_uri(
        Path(os.environ.get("CAREGRAPH_DATA_DIR", ".data")), "caregraph_bench"
    )


def prepare(database_url: str, scale: Scale) -> Report:
    """Migrates the database to head, then fills what is empty."""
    from server import migrate

    migrate(database_url)
    return asyncio.run(generate(database_url, scale))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.generate", description=__doc__)
    parser.add_argument("--scale", choices=["full", "tiny"], default="full")
    parser.add_argument("--database-url", help="default: $BENCH_DATABASE_URL or embedded")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    url = args.database_url or default_database_url()
    scale = Scale.full() if args.scale == "full" else Scale.tiny()
    started = time.perf_counter()
    report = prepare(url, scale)
    counts: dict[str, Any] = asyncio.run(table_counts(url))
    print(f"generated in {time.perf_counter() - started:.1f} s")
    for table, count in counts.items():
        print(f"  {table:24} {count:>9,}")
    for name, reason in report.skipped.items():
        print(f"  skipped {name}: {reason}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
