"""The bench suite: each operation as the client apps send it, the viewers who send it, and
the raw SQL of its baseline (see bench/baseline.py).

The read operations (directory with slots, directory with services and the next open
slot, patient home, doctor day, the doctor's patients' goals, catalog, feed, notification
inbox, audit log) are `Operation`s with one baseline statement each; the hold + book +
cancel mix is `MUTATION_MIX` (server only, driven by bench.load.drive_mix).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from graphql import OperationDefinitionNode, parse

from bench.generate import BENCH_EMAIL_DOMAIN, Scale, bench_id
from schema.ids import format_id


@dataclass(frozen=True)
class Operation:
    name: str
    """The GraphQL operation name (also the key in the server's access log)."""
    document: str
    viewer_kind: str
    """`patient`, `doctor` or `admin`: whose token sends it (bench ids `patient:n`,
    `doctor-user:n`, `admin:n`)."""
    baseline_sql: str
    """One statement returning the response's `data` as JSON text; $1 is the viewer's
    user id, then `baseline_arguments(variables)`."""
    variables: Callable[[Scale, int], dict[str, Any]] = field(default=lambda _scale, _n: {})
    baseline_arguments: Callable[[dict[str, Any]], list[Any]] = field(default=lambda _variables: [])
    filled: tuple[str, ...] = ("edges",)
    """Fields (lists or connections) the smoke test expects non-empty for most viewers."""


# Viewer kind -> the generator's kind of user (bench.generate `_users`).
_USER_KINDS = {"patient": "patient", "doctor": "doctor-user", "admin": "admin"}


def viewer_id(kind: str, n: int) -> uuid.UUID:
    return bench_id(_USER_KINDS[kind], n)


def viewer_email(kind: str, n: int) -> str:
    return f"{_USER_KINDS[kind]}{n}@{BENCH_EMAIL_DOMAIN}"


def viewer_numbers(kind: str, scale: Scale, count: int) -> list[int]:
    """`count` distinct viewers spread over the population (patients, doctors or
    admins: as many as there are, if fewer)."""
    population = {"patient": scale.patients, "doctor": scale.doctors, "admin": scale.admins}[kind]
    count = min(count, population)
    step = max(1, population // count)
    return [1 + i * step for i in range(count)]


# --- SQL building blocks ----------------------------------------------------------------

# `resolvers.core.pagination.encode_cursor([text, uuid])`: base64url (no padding) of
# [["s", <json string>], ["u", "<uuid>"]] with compact separators.
_TEXT_ID_CURSOR = (
    "rtrim(translate(replace(encode(convert_to("
    "'[[\"s\",' || to_json({text})::text || '],[\"u\",\"' || {id}::text || '\"]]', 'UTF8'), "
    "'base64'), E'\\n', ''), '+/', '-_'), '=')"
)


def _global_id(type_name: str, column: str) -> str:
    """`schema.ids.format_id`: base64url (no padding) of `<type>:<uuid>`; Postgres breaks
    base64 lines at 76 characters, so the newlines go too."""
    return _global_id_of(f"'{type_name}'", column)


def _global_id_of(type_sql: str, column: str) -> str:
    """`_global_id` with the type name from SQL (a column)."""
    return (
        f"rtrim(translate(encode(convert_to({type_sql} || ':' || {column}, 'UTF8'), "
        "'base64'), '+/' || chr(10), '-_'), '=')"
    )


def _iso_instant(column: str) -> str:
    """Python's `datetime.isoformat()` of a timestamptz in UTC (the `DateTime` scalar and
    cursors): microseconds only when there are any, always six digits; Postgres's own JSON
    drops trailing zeros."""
    return (
        f"(to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') || "
        f"CASE WHEN date_trunc('second', {column}) <> {column} "
        f"THEN to_char({column} AT TIME ZONE 'UTC', '.US') ELSE '' END || '+00:00')"
    )


# `encode_cursor([datetime, uuid])`: [["t", <isoformat>], ["u", "<uuid>"]].
_INSTANT_ID_CURSOR = (
    "rtrim(translate(replace(encode(convert_to("
    "'[[\"t\",\"' || {instant} || '\"],[\"u\",\"' || {id}::text || '\"]]', 'UTF8'), "
    "'base64'), E'\\n', ''), '+/', '-_'), '=')"
)


# `resolvers.goals.goal_progress`.
_PROGRESS = (
    "(CASE WHEN g.target_value = g.baseline_value "
    "THEN CASE WHEN g.current_value = g.target_value THEN 100 ELSE 0 END "
    "ELSE round(least(100, greatest(0, (g.current_value - g.baseline_value) "
    "/ (g.target_value - g.baseline_value) * 100)), 2) END)"
)

_LAST_CHECK_IN = """
    json_build_object('edges', coalesce((
        SELECT json_agg(json_build_object('node', json_build_object(
                   'date', c.date, 'value', c.value, 'mood', upper(c.mood))))
          FROM (SELECT c.date, c.value, c.mood FROM goal_check_ins c
                 WHERE c.goal_id = g.id ORDER BY c.date DESC, c.id DESC LIMIT 1) c
    ), '[]'::json))
"""

# The viewer's policy facts (resolvers.core.identity.Viewer): doctor profile and app roles.
_VIEWER = """viewer AS (
    SELECT (SELECT d.id FROM doctors d WHERE d.user_id = $1) AS doctor_id,
           EXISTS (SELECT 1 FROM user_roles r
                    WHERE r.user_id = $1 AND r.role = 'admin') AS is_admin,
           EXISTS (SELECT 1 FROM user_roles r
                    WHERE r.user_id = $1 AND r.role = 'coach') AS is_coach,
           EXISTS (SELECT 1 FROM user_roles r
                    WHERE r.user_id = $1 AND r.role IN ('admin', 'coach')) AS reads_all
)"""

# resolvers/policies: appointments (a), doctors (d), users (u), goals (g); `v` = viewer.
_APPOINTMENT_READ = "v.is_admin OR a.patient_id = $1 OR a.doctor_id = v.doctor_id"
_DOCTOR_READ = "d.verified OR d.user_id = $1 OR v.is_admin"
_USER_READ = (
    "v.reads_all OR u.id = $1 OR EXISTS (SELECT 1 FROM appointments pa "
    "WHERE pa.patient_id = u.id AND pa.doctor_id = v.doctor_id)"
)
_GOAL_READ = (
    "v.reads_all OR g.owner_id = $1 OR EXISTS (SELECT 1 FROM appointments ca "
    "WHERE ca.doctor_id = v.doctor_id AND ca.patient_id = g.owner_id "
    "AND ca.status <> 'cancelled')"
)


def _upcoming_from(scale: Scale) -> datetime:
    """Now, to the minute (what a client sends as "upcoming from"); at a small scale,
    whose schedules end before today, the middle of the schedules instead."""
    days = scale.appointments // scale.doctors // 8
    if days - 30 > 1:
        return datetime.now(UTC).replace(second=0, microsecond=0)
    return datetime.combine(datetime.now(UTC).date() - timedelta(days=30 - days // 2), time(), UTC)


def _day_range(scale: Scale) -> dict[str, str]:
    """One UTC day, as a doctor's day view asks for it: today, or at a small scale (whose
    schedules end before today) the last day with appointments. The generator puts 8
    appointments a day per doctor from 30 days before the generation day."""
    days = scale.appointments // scale.doctors // 8
    offset = min(0, days - 1 - 30)
    start = datetime.combine(datetime.now(UTC).date() + timedelta(days=offset), time(), UTC)
    return {"from": start.isoformat(), "to": (start + timedelta(days=1)).isoformat()}


# --- directory ----------------------------------------------------------------------------


def _week_ahead(_scale: Scale, _n: int) -> dict[str, str]:
    """The next 7 days from today (UTC), as the directory asks for slots."""
    today = datetime.now(UTC).date()
    return {"from": today.isoformat(), "to": (today + timedelta(days=6)).isoformat()}


def _lead_minutes() -> int:
    """The server's minimum lead time (CAREGRAPH_MIN_LEAD_MINUTES), which slots respect."""
    from resolvers.core.settings import get_settings

    return get_settings().min_lead_minutes


def _slot_arguments(variables: dict[str, Any]) -> list[Any]:
    return [
        date.fromisoformat(variables["from"]),
        date.fromisoformat(variables["to"]),
        _lead_minutes(),
    ]


# `resolvers.slots.compute_slots` in SQL, for the doctors in `edges` and each one's default
# STANDARD service (what `availableSlots` and `nextAvailableSlot` compute without
# `serviceId`): each doctor's local dates `first_day`..`last_day` (SQL over the edge `e`),
# weekly rules in the doctor's zone, a date's exceptions replacing them (blocked; custom
# hours keeping the weekday's first rule's slot length and buffer, else 30 and 0), the
# service's own duration and buffer over the rule's when it has them, the day's cap on live
# appointments by local date, live appointments (not an unpaid one past its payment window)
# and other viewers' unexpired holds blocking (with the buffer: one multirange per doctor,
# tested with `&&` against the slot widened by the buffer), and nothing before now + the
# longer of the lead time (`lead`) and the service's minimum notice. Busy intervals are read
# from `low` to `high` (UTC dates around every doctor's range). Local times are turned into
# instants as zoneinfo does with fold=0: a time skipped by DST has no slot, a repeated one
# takes the earlier instant. Not modelled: a default service with more than one seat (a
# group session's seats); the bench has none. `$1` is the viewer (whose holds do not block).
def slots_sql(*, first_day: str, last_day: str, low: str, high: str, lead: str) -> str:
    return f"""
bookable AS (
    SELECT e.id, e.timezone, {first_day} AS first_day, {last_day} AS last_day,
           sv.duration_minutes, sv.buffer_minutes, sv.min_notice_minutes, sv.price,
           sv.currency
      FROM edges e
      JOIN services sv
        ON sv.doctor_id = e.id AND sv.default_for = 'standard' AND sv.active
     WHERE e.verified AND e.accepting_patients
), busy AS (
    SELECT a.doctor_id, a.starts_at, a.ends_at, true AS booked
      FROM appointments a
     WHERE a.doctor_id IN (SELECT id FROM bookable)
       AND a.status IN ('requested', 'pending_payment', 'confirmed')
       AND (a.status <> 'pending_payment' OR a.payment_due_at IS NULL
            OR a.payment_due_at > now())
       AND a.starts_at < ({high})::timestamp AT TIME ZONE 'UTC'
       AND a.ends_at > ({low})::timestamp AT TIME ZONE 'UTC'
    UNION ALL
    SELECT h.doctor_id, h.starts_at, h.ends_at, false
      FROM slot_holds h
     WHERE h.doctor_id IN (SELECT id FROM bookable)
       AND h.expires_at > now() AND h.user_id <> $1
       AND h.starts_at < ({high})::timestamp AT TIME ZONE 'UTC'
       AND h.ends_at > ({low})::timestamp AT TIME ZONE 'UTC'
), days AS (
    SELECT b.id AS doctor_id, b.timezone, day::date AS day,
           extract(dow FROM day)::int AS dow
      FROM bookable b, generate_series(b.first_day, b.last_day, interval '1 day') AS day
), busy_ranges AS (
    SELECT b.doctor_id, range_agg(tstzrange(b.starts_at, b.ends_at)) AS ranges
      FROM busy b GROUP BY b.doctor_id
), booked AS (
    SELECT b.doctor_id, (b.starts_at AT TIME ZONE k.timezone)::date AS day, count(*) AS n
      FROM busy b JOIN bookable k ON k.id = b.doctor_id
     WHERE b.booked
     GROUP BY 1, 2
), open_days AS (
    SELECT d.*,
           EXISTS (SELECT 1 FROM availability_exceptions x
                    WHERE x.doctor_id = d.doctor_id AND x.date = d.day) AS excepted
      FROM days d
      LEFT JOIN booked n ON n.doctor_id = d.doctor_id AND n.day = d.day
     WHERE NOT EXISTS (SELECT 1 FROM availability_exceptions x
                        WHERE x.doctor_id = d.doctor_id AND x.date = d.day
                          AND x.kind = 'blocked')
       AND coalesce(coalesce(n.n, 0)
                    < (SELECT min(r.max_patients_per_day) FROM doctor_availability r
                        WHERE r.doctor_id = d.doctor_id AND r.active
                          AND r.day_of_week = d.dow), true)
), windows AS (
    SELECT o.doctor_id, o.timezone, o.day, r.start_time, r.end_time, r.slot_minutes,
           r.buffer_minutes
      FROM open_days o
      JOIN doctor_availability r
        ON r.doctor_id = o.doctor_id AND r.active AND r.day_of_week = o.dow
     WHERE NOT o.excepted
    UNION ALL
    SELECT o.doctor_id, o.timezone, o.day, x.start_time, x.end_time,
           coalesce(t.slot_minutes, 30), coalesce(t.buffer_minutes, 0)
      FROM open_days o
      JOIN availability_exceptions x
        ON x.doctor_id = o.doctor_id AND x.date = o.day
       AND x.start_time IS NOT NULL AND x.end_time IS NOT NULL
      LEFT JOIN LATERAL (
          SELECT r.slot_minutes, r.buffer_minutes FROM doctor_availability r
           WHERE r.doctor_id = o.doctor_id AND r.active AND r.day_of_week = o.dow
           ORDER BY r.start_time LIMIT 1) t ON true
     WHERE o.excepted
), terms AS (
    SELECT w.doctor_id, w.timezone, w.day, w.start_time, w.end_time,
           coalesce(b.duration_minutes, w.slot_minutes) AS slot_minutes,
           coalesce(b.buffer_minutes, w.buffer_minutes) AS buffer_minutes
      FROM windows w JOIN bookable b ON b.id = w.doctor_id
), candidates AS (
    SELECT w.doctor_id, w.timezone, w.day, w.slot_minutes, w.buffer_minutes,
           (w.day + w.start_time) + k * make_interval(mins => w.slot_minutes + w.buffer_minutes)
               AS local
      FROM terms w,
           generate_series(0, floor((extract(epoch FROM w.end_time - w.start_time) / 60
                                     - w.slot_minutes)
                                    / (w.slot_minutes + w.buffer_minutes))::int) AS k
), instants AS (
    SELECT c.doctor_id, c.day, c.slot_minutes, c.buffer_minutes,
           CASE WHEN (z.before AT TIME ZONE c.timezone) = c.local THEN z.before
                WHEN (z.after AT TIME ZONE c.timezone) = c.local THEN z.after END AS starts_at
      FROM candidates c,
           LATERAL (SELECT ((c.local - interval '3 hours') AT TIME ZONE c.timezone)
                               + interval '3 hours' AS before,
                           c.local AT TIME ZONE c.timezone AS after) z
), slots AS (
    SELECT i.doctor_id, i.day, i.starts_at,
           i.starts_at + make_interval(mins => i.slot_minutes) AS ends_at
      FROM instants i
      JOIN bookable b ON b.id = i.doctor_id
      LEFT JOIN busy_ranges r ON r.doctor_id = i.doctor_id
     WHERE i.starts_at >= now() + make_interval(mins => greatest({lead}, b.min_notice_minutes))
       AND (r.ranges IS NULL OR NOT r.ranges && tstzrange(
                i.starts_at - make_interval(mins => i.buffer_minutes),
                i.starts_at + make_interval(mins => i.slot_minutes + i.buffer_minutes)))
)"""


# The directory's: local dates $2..$3 (from no earlier than the doctor's yesterday, as
# `resolvers.slots.slot_range` clips), minimum lead minutes $4.
SLOTS_SQL = slots_sql(
    first_day="greatest($2::date, (now() AT TIME ZONE e.timezone)::date - 1)",
    last_day="$3::date",
    low="$2::date - 2",
    high="$3::date + 2",
    lead="$4",
)

DIRECTORY = Operation(
    name="BenchDirectory",
    viewer_kind="patient",
    filled=("edges", "availableSlots"),
    document="""
query BenchDirectory($from: Date!, $to: Date!) {
  doctors(first: 20) {
    edges {
      cursor
      node {
        id
        fullName
        specialties
        languages
        ratingAvg
        ratingCount
        feeStandard
        currency
        photoUrl
        acceptingPatients
        timezone
        availableSlots(from: $from, to: $to) { startsAt endsAt }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}
""",
    variables=_week_ahead,
    baseline_arguments=_slot_arguments,
    baseline_sql=f"""
WITH page AS (
    SELECT d.id, d.full_name, d.specialties, d.languages, d.rating_avg, d.rating_count,
           d.fee_standard, d.currency, d.photo_url, d.accepting_patients, d.timezone,
           d.verified, row_number() OVER (ORDER BY d.full_name, d.id) AS rn
      FROM doctors d
     WHERE d.verified OR d.user_id = $1
        OR EXISTS (SELECT 1 FROM user_roles r WHERE r.user_id = $1 AND r.role = 'admin')
     ORDER BY d.full_name, d.id
     LIMIT 21
), edges AS (
    SELECT {_TEXT_ID_CURSOR.format(text="full_name", id="id")} AS cursor, page.*
      FROM page WHERE rn <= 20
), {SLOTS_SQL}
SELECT json_build_object('doctors', json_build_object(
    'edges', coalesce((SELECT json_agg(json_build_object(
        'cursor', e.cursor,
        'node', json_build_object(
            'id', {_global_id("Doctor", "e.id")},
            'fullName', e.full_name, 'specialties', e.specialties,
            'languages', e.languages, 'ratingAvg', e.rating_avg::text,
            'ratingCount', e.rating_count, 'feeStandard', e.fee_standard::text,
            'currency', e.currency, 'photoUrl', e.photo_url,
            'acceptingPatients', e.accepting_patients, 'timezone', e.timezone,
            'availableSlots', coalesce((
                SELECT json_agg(json_build_object('startsAt', s.starts_at,
                                                  'endsAt', s.ends_at)
                                ORDER BY s.starts_at)
                  FROM slots s WHERE s.doctor_id = e.id), '[]'::json)))
        ORDER BY e.rn) FROM edges e), '[]'::json),
    'pageInfo', json_build_object(
        'hasNextPage', (SELECT count(*) FROM page) > 20,
        'endCursor', (SELECT e.cursor FROM edges e ORDER BY e.rn DESC LIMIT 1))
))::text
""",
)

# --- directory with services and the next open slot --------------------------------------

# Each doctor's first open slot of the default STANDARD service in `nextAvailableSlot`'s
# window (withinDays 14): the doctor's local dates today .. today + 13. Busy intervals are
# read from the UTC date 2 days before today to 16 days after (every zone's today .. +13
# days, with the margin `load_schedules` takes).
NEXT_SLOTS_SQL = slots_sql(
    first_day="(now() AT TIME ZONE e.timezone)::date",
    last_day="(now() AT TIME ZONE e.timezone)::date + 13",
    low="(now() AT TIME ZONE 'UTC')::date - 2",
    high="(now() AT TIME ZONE 'UTC')::date + 16",
    lead="$2",
)

DIRECTORY_SERVICES = Operation(
    name="BenchDirectoryServices",
    viewer_kind="patient",
    filled=("edges", "services", "nextAvailableSlot"),
    # A booking UI's directory: each doctor's active services (defaults first) and the
    # first open slot of the standard consultation (`nextAvailableSlot` without
    # arguments: the default service, 14 days).
    document="""
query BenchDirectoryServices {
  doctors(first: 20) {
    edges {
      cursor
      node {
        id
        fullName
        specialties
        photoUrl
        ratingAvg
        ratingCount
        timezone
        services { id name durationMinutes price currency mode capacity defaultFor }
        nextAvailableSlot { startsAt endsAt localDate localStartTime price currency }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}
""",
    baseline_arguments=lambda _variables: [_lead_minutes()],
    baseline_sql=f"""
WITH {_VIEWER}, page AS (
    SELECT d.id, d.full_name, d.specialties, d.photo_url, d.rating_avg, d.rating_count,
           d.accepting_patients, d.timezone, d.verified,
           row_number() OVER (ORDER BY d.full_name, d.id) AS rn
      FROM doctors d, viewer v
     WHERE {_DOCTOR_READ}
     ORDER BY d.full_name, d.id
     LIMIT 21
), edges AS (
    SELECT {_TEXT_ID_CURSOR.format(text="full_name", id="id")} AS cursor, page.*
      FROM page WHERE rn <= 20
), {NEXT_SLOTS_SQL}, next_slot AS (
    SELECT DISTINCT ON (s.doctor_id) s.doctor_id, s.day, s.starts_at, s.ends_at
      FROM slots s ORDER BY s.doctor_id, s.starts_at
)
SELECT json_build_object('doctors', json_build_object(
    'edges', coalesce((SELECT json_agg(json_build_object(
        'cursor', e.cursor,
        'node', json_build_object(
            'id', {_global_id("Doctor", "e.id")},
            'fullName', e.full_name, 'specialties', e.specialties,
            'photoUrl', e.photo_url, 'ratingAvg', e.rating_avg::text,
            'ratingCount', e.rating_count, 'timezone', e.timezone,
            -- the services policy (active ones of verified doctors; a doctor's own; admins
            -- all), then `Doctor.services` keeps the active ones; defaults first
            'services', coalesce((
                SELECT json_agg(json_build_object(
                           'id', {_global_id("Service", "sv.id")}, 'name', sv.name,
                           'durationMinutes', sv.duration_minutes,
                           'price', sv.price::text, 'currency', sv.currency,
                           'mode', upper(sv.mode), 'capacity', sv.capacity,
                           'defaultFor', upper(sv.default_for))
                       ORDER BY sv.default_for IS NULL, sv.default_for DESC, sv.name, sv.id)
                  FROM services sv, viewer v
                 WHERE sv.doctor_id = e.id AND sv.active
                   AND (v.is_admin OR e.verified OR sv.doctor_id = v.doctor_id)
            ), '[]'::json),
            'nextAvailableSlot', (
                SELECT json_build_object(
                           'startsAt', n.starts_at, 'endsAt', n.ends_at, 'localDate', n.day,
                           'localStartTime', to_char(n.starts_at AT TIME ZONE e.timezone,
                                                     'HH24:MI'),
                           'price', b.price::text, 'currency', b.currency)
                  FROM next_slot n JOIN bookable b ON b.id = n.doctor_id
                 WHERE n.doctor_id = e.id)))
        ORDER BY e.rn) FROM edges e), '[]'::json),
    'pageInfo', json_build_object(
        'hasNextPage', (SELECT count(*) FROM page) > 20,
        'endCursor', (SELECT e.cursor FROM edges e ORDER BY e.rn DESC LIMIT 1))
))::text
""",
)

# --- patient home -----------------------------------------------------------------------

PATIENT_HOME = Operation(
    name="BenchPatientHome",
    filled=("goals", "appointments", "checkIns", "payments"),
    viewer_kind="patient",
    document="""
query BenchPatientHome($now: DateTime!) {
  viewer {
    user {
      id
      fullName
      goals(status: ACTIVE, first: 10) {
        edges {
          node {
            id
            title
            metric
            unit
            progress
            currentValue
            targetValue
            targetDate
            checkIns(first: 1) { edges { node { date value mood } } }
          }
        }
      }
    }
  }
  appointments(first: 10, filter: {from: $now}) {
    edges {
      node {
        id
        startsAt
        endsAt
        type
        status
        amountDue
        currency
        doctor { id fullName specialties photoUrl }
        payments { amount currency status }
      }
    }
    pageInfo { hasNextPage }
  }
}
""",
    variables=lambda scale, _n: {"now": _upcoming_from(scale).isoformat()},
    baseline_arguments=lambda variables: [datetime.fromisoformat(variables["now"])],
    baseline_sql=f"""
WITH {_VIEWER}, readable AS (
    -- The appointments policy's three branches, each on its own index.
    (SELECT a.id, a.starts_at FROM appointments a
      WHERE a.patient_id = $1 AND a.starts_at >= $2
      ORDER BY a.starts_at, a.id LIMIT 11)
    UNION
    (SELECT a.id, a.starts_at FROM appointments a
      WHERE a.doctor_id = (SELECT doctor_id FROM viewer) AND a.starts_at >= $2
      ORDER BY a.starts_at, a.id LIMIT 11)
    UNION
    (SELECT a.id, a.starts_at FROM appointments a
      WHERE (SELECT is_admin FROM viewer) AND a.starts_at >= $2
      ORDER BY a.starts_at, a.id LIMIT 11)
), upcoming AS (
    SELECT a.* FROM appointments a
     WHERE a.id IN (SELECT id FROM (SELECT id, starts_at FROM readable
                                     ORDER BY starts_at, id LIMIT 11) r)
     ORDER BY a.starts_at, a.id
), shown AS (
    SELECT * FROM upcoming ORDER BY starts_at, id LIMIT 10
)
SELECT json_build_object(
  'viewer', json_build_object('user', (
    SELECT json_build_object(
        'id', {_global_id("User", "u.id")}, 'fullName', u.full_name,
        'goals', json_build_object('edges', coalesce((
            SELECT json_agg(json_build_object('node', json_build_object(
                       'id', {_global_id("Goal", "g.id")},
                       'title', g.title, 'metric', g.metric, 'unit', g.unit,
                       'progress', {_PROGRESS}, 'currentValue', g.current_value,
                       'targetValue', g.target_value, 'targetDate', g.target_date,
                       'checkIns', {_LAST_CHECK_IN}))
                   ORDER BY g.created_at DESC, g.id DESC)
              FROM (SELECT * FROM goals g
                     WHERE g.owner_id = u.id AND g.status = 'active'
                     ORDER BY g.created_at DESC, g.id DESC LIMIT 10) g
        ), '[]'::json)))
      FROM users u WHERE u.id = $1
  )),
  'appointments', json_build_object(
    'edges', coalesce((
        SELECT json_agg(json_build_object('node', json_build_object(
                   'id', {_global_id("Appointment", "a.id")},
                   'startsAt', a.starts_at, 'endsAt', a.ends_at,
                   'type', upper(a.type), 'status', upper(a.status),
                   'amountDue', (a.price - a.discount)::text, 'currency', a.currency,
                   'doctor', (SELECT json_build_object('id', {_global_id("Doctor", "d.id")},
                                                       'fullName', d.full_name,
                                     'specialties', d.specialties, 'photoUrl', d.photo_url)
                                FROM doctors d, viewer v
                               WHERE d.id = a.doctor_id AND ({_DOCTOR_READ})),
                   'payments', coalesce((
                       SELECT json_agg(json_build_object(
                                  'amount', p.amount::text, 'currency', p.currency,
                                  'status', upper(p.status))
                              ORDER BY p.created_at, p.id)
                         FROM payments p WHERE p.appointment_id = a.id), '[]'::json)))
               ORDER BY a.starts_at, a.id)
          FROM shown a), '[]'::json),
    'pageInfo', json_build_object('hasNextPage', (SELECT count(*) FROM upcoming) > 10))
)::text
""",
)

# --- doctor day -------------------------------------------------------------------------

DOCTOR_DAY = Operation(
    name="BenchDoctorDay",
    filled=("appointments", "goals", "checkIns"),
    viewer_kind="doctor",
    document="""
query BenchDoctorDay($from: DateTime!, $to: DateTime!) {
  appointments(first: 50, filter: {from: $from, to: $to}) {
    edges {
      node {
        id
        startsAt
        endsAt
        type
        status
        notes
        patient {
          id
          fullName
          goals(status: ACTIVE, first: 5) {
            edges {
              node {
                id
                title
                unit
                progress
                currentValue
                targetValue
                checkIns(first: 1) { edges { node { date value mood } } }
              }
            }
          }
        }
      }
    }
    pageInfo { hasNextPage }
  }
}
""",
    variables=lambda scale, _n: _day_range(scale),
    baseline_arguments=lambda variables: [
        datetime.fromisoformat(variables["from"]),
        datetime.fromisoformat(variables["to"]),
    ],
    baseline_sql=f"""
WITH {_VIEWER}, day AS (
    SELECT a.* FROM appointments a, viewer v
     WHERE ({_APPOINTMENT_READ}) AND a.starts_at >= $2 AND a.starts_at < $3
     ORDER BY a.starts_at, a.id
     LIMIT 51
), shown AS (
    SELECT * FROM day ORDER BY starts_at, id LIMIT 50
)
SELECT json_build_object('appointments', json_build_object(
    'edges', coalesce((
        SELECT json_agg(json_build_object('node', json_build_object(
                   'id', {_global_id("Appointment", "a.id")},
                   'startsAt', a.starts_at, 'endsAt', a.ends_at,
                   'type', upper(a.type), 'status', upper(a.status), 'notes', a.notes,
                   'patient', (
                       SELECT json_build_object(
                           'id', {_global_id("User", "u.id")}, 'fullName', u.full_name,
                           'goals', json_build_object('edges', coalesce((
                               SELECT json_agg(json_build_object('node', json_build_object(
                                          'id', {_global_id("Goal", "g.id")},
                                          'title', g.title, 'unit', g.unit,
                                          'progress', {_PROGRESS},
                                          'currentValue', g.current_value,
                                          'targetValue', g.target_value,
                                          'checkIns', {_LAST_CHECK_IN}))
                                      ORDER BY g.created_at DESC, g.id DESC)
                                 FROM (SELECT g.* FROM goals g
                                        WHERE g.owner_id = u.id AND g.status = 'active'
                                          AND ({_GOAL_READ})
                                        ORDER BY g.created_at DESC, g.id DESC LIMIT 5) g
                           ), '[]'::json)))
                         FROM users u, viewer v
                        WHERE u.id = a.patient_id AND ({_USER_READ}))))
               ORDER BY a.starts_at, a.id)
          FROM shown a), '[]'::json),
    'pageInfo', json_build_object('hasNextPage', (SELECT count(*) FROM day) > 50)
))::text
""",
)

# --- doctor day -------------------------------------------------------------------------

DOCTOR_PATIENT_GOALS = Operation(
    name="BenchDoctorPatientGoals",
    viewer_kind="doctor",
    # The goals part of the doctor's day on its own: the active goals the doctor may read
    # (their patients', through the care-relationship policy), without the appointments.
    document="""
query BenchDoctorPatientGoals {
  goals(first: 20, filter: {status: ACTIVE}) {
    edges {
      node {
        id
        title
        unit
        progress
        currentValue
        targetValue
        owner { id fullName }
        checkIns(first: 1) { edges { node { date value mood } } }
      }
    }
    pageInfo { hasNextPage }
  }
}
""",
    baseline_sql=f"""
WITH viewer AS (
    SELECT (SELECT d.id FROM doctors d WHERE d.user_id = $1) AS doctor_id,
           EXISTS (SELECT 1 FROM user_roles r
                    WHERE r.user_id = $1 AND r.role IN ('admin', 'coach')) AS reads_all
), page AS (
    SELECT g.* FROM goals g, viewer v
     WHERE g.status = 'active'
       AND (v.reads_all OR g.owner_id = $1 OR g.owner_id IN (
            SELECT a.patient_id FROM appointments a
             WHERE a.doctor_id = v.doctor_id AND a.status <> 'cancelled'))
     ORDER BY g.created_at DESC, g.id DESC
     LIMIT 21
), shown AS (
    SELECT * FROM page ORDER BY created_at DESC, id DESC LIMIT 20
)
SELECT json_build_object('goals', json_build_object(
    'edges', coalesce((
        SELECT json_agg(json_build_object('node', json_build_object(
                   'id', {_global_id("Goal", "g.id")},
                   'title', g.title, 'unit', g.unit, 'progress', {_PROGRESS},
                   'currentValue', g.current_value, 'targetValue', g.target_value,
                   'owner', json_build_object('id', {_global_id("User", "u.id")},
                                              'fullName', u.full_name),
                   'checkIns', {_LAST_CHECK_IN}))
               ORDER BY g.created_at DESC, g.id DESC)
          FROM shown g JOIN users u ON u.id = g.owner_id
    ), '[]'::json),
    'pageInfo', json_build_object('hasNextPage', (SELECT count(*) FROM page) > 20)
))::text
""",
)

# --- catalog ----------------------------------------------------------------------------

CATALOG = Operation(
    name="BenchCatalog",
    viewer_kind="patient",
    filled=("lessonModules", "lessons", "viewerProgress"),
    document="""
query BenchCatalog {
  lessonModules {
    name
    lessonCount
    completedCount
    totalDurationSec
    completionPercent
  }
  lessons(first: 50) {
    edges {
      node {
        id
        slug
        title
        module
        position
        durationSec
        tags
        paywall
        locked
        viewerProgress { positionSec completed }
      }
    }
    pageInfo { hasNextPage }
  }
}
""",
    baseline_sql=f"""
WITH {_VIEWER}, entitled AS (
    SELECT v.reads_all OR EXISTS (
               SELECT 1 FROM entitlements e
                WHERE e.user_id = $1 AND e.product = 'lessons' AND e.revoked_at IS NULL
                  AND (e.valid_until IS NULL OR e.valid_until > now())) AS content
      FROM viewer v
), modules AS (
    SELECT l.module, count(l.id) AS lessons,
           count(p.id) FILTER (WHERE p.completed) AS completed,
           coalesce(sum(l.duration_sec), 0) AS duration
      FROM lessons l
      LEFT JOIN lesson_progress p ON p.lesson_id = l.id AND p.user_id = $1
     CROSS JOIN viewer v
     WHERE v.reads_all OR l.published
     GROUP BY l.module
), page AS (
    SELECT l.* FROM lessons l, viewer v
     WHERE v.reads_all OR l.published
     ORDER BY l.module, l.position, l.id
     LIMIT 51
), shown AS (
    SELECT * FROM page ORDER BY module, position, id LIMIT 50
)
SELECT json_build_object(
  'lessonModules', coalesce((
      SELECT json_agg(json_build_object(
                 'name', m.module, 'lessonCount', m.lessons, 'completedCount', m.completed,
                 'totalDurationSec', m.duration,
                 'completionPercent', round(100.0 * m.completed / m.lessons, 1)::float8)
             ORDER BY m.module)
        FROM modules m), '[]'::json),
  'lessons', json_build_object(
    'edges', coalesce((
        SELECT json_agg(json_build_object('node', json_build_object(
                   'id', {_global_id("Lesson", "l.id")},
                   'slug', l.slug, 'title', l.title, 'module', l.module,
                   'position', l.position, 'durationSec', l.duration_sec, 'tags', l.tags,
                   'paywall', l.paywall,
                   'locked', l.paywall AND NOT (SELECT content FROM entitled),
                   'viewerProgress', (
                       SELECT json_build_object('positionSec', p.position_sec,
                                                'completed', p.completed)
                         FROM lesson_progress p
                        WHERE p.lesson_id = l.id AND p.user_id = $1)))
               ORDER BY l.module, l.position, l.id)
          FROM shown l), '[]'::json),
    'pageInfo', json_build_object('hasNextPage', (SELECT count(*) FROM page) > 50))
)::text
""",
)

# --- feed -------------------------------------------------------------------------------

_AUTHOR = (
    "(SELECT json_build_object('id', "
    + _global_id("Author", "au.id").replace("{", "{{").replace("}", "}}")
    + ", 'displayName', au.full_name, "
    "'avatarUrl', au.avatar_url) FROM users au WHERE au.id = {column})"
)

# resolvers/policies/community: a comment (c) of a post the viewer reads (the feed's
# posts are readable by construction, so the post's own check is already done).
_COMMENT_READ = (
    "v.is_admin OR v.is_coach OR (NOT c.hidden AND NOT EXISTS ("
    "SELECT 1 FROM comments pc WHERE pc.id = c.parent_id AND pc.hidden))"
)

FEED = Operation(
    name="BenchFeed",
    viewer_kind="patient",
    filled=("feed", "comments", "replies"),
    document="""
query BenchFeed {
  feed(first: 20) {
    edges {
      node {
        id
        title
        body
        tags
        pinned
        likeCount
        commentCount
        viewerHasLiked
        author { id displayName avatarUrl }
        comments(first: 5) {
          edges {
            node {
              id
              body
              likeCount
              author { id displayName avatarUrl }
              replies(first: 3) {
                edges { node { id body author { id displayName avatarUrl } } }
                pageInfo { hasNextPage }
              }
            }
          }
          pageInfo { hasNextPage }
        }
      }
    }
    pageInfo { hasNextPage }
  }
}
""",
    baseline_sql=f"""
WITH {_VIEWER}, page AS (
    SELECT p.* FROM posts p, viewer v
     WHERE v.is_admin OR ((v.is_coach OR NOT p.hidden) AND (p.published OR p.author_id = $1))
     ORDER BY p.pinned DESC, p.created_at DESC, p.id DESC
     LIMIT 21
), shown AS (
    SELECT * FROM page ORDER BY pinned DESC, created_at DESC, id DESC LIMIT 20
), tops AS (
    SELECT c.*, row_number() OVER (PARTITION BY c.post_id ORDER BY c.created_at, c.id) AS rank
      FROM comments c, viewer v
     WHERE c.post_id IN (SELECT id FROM shown) AND c.parent_id IS NULL AND ({_COMMENT_READ})
), top_page AS (
    SELECT * FROM tops WHERE rank <= 6
), replies AS (
    SELECT * FROM (
        SELECT c.*, row_number() OVER (PARTITION BY c.parent_id ORDER BY c.created_at, c.id)
                   AS rank
          FROM comments c, viewer v
         WHERE c.parent_id IN (SELECT id FROM top_page WHERE rank <= 5)
           AND ({_COMMENT_READ})) r
     WHERE rank <= 4
)
SELECT json_build_object('feed', json_build_object(
    'edges', coalesce((
        SELECT json_agg(json_build_object('node', json_build_object(
                   'id', {_global_id("Post", "p.id")},
                   'title', p.title, 'body', p.body, 'tags', p.tags,
                   'pinned', p.pinned,
                   'likeCount', (SELECT count(*) FROM post_likes pl WHERE pl.post_id = p.id),
                   'commentCount', (SELECT count(*) FROM comments c, viewer v
                                     WHERE c.post_id = p.id AND ({_COMMENT_READ})),
                   'viewerHasLiked', EXISTS (SELECT 1 FROM post_likes pl
                                              WHERE pl.post_id = p.id AND pl.user_id = $1),
                   'author', {_AUTHOR.format(column="p.author_id")},
                   'comments', json_build_object(
                       'edges', coalesce((
                           SELECT json_agg(json_build_object('node', json_build_object(
                                      'id', {_global_id("Comment", "t.id")}, 'body', t.body,
                                      'likeCount', (SELECT count(*) FROM comment_likes cl
                                                     WHERE cl.comment_id = t.id),
                                      'author', {_AUTHOR.format(column="t.author_id")},
                                      'replies', json_build_object(
                                          'edges', coalesce((
                                              SELECT json_agg(json_build_object(
                                                         'node', json_build_object(
                                                             'id', {_global_id("Comment", "r.id")},
                                                             'body', r.body,
                                                             'author',
                                                             {_AUTHOR.format(column="r.author_id")}
                                                         )) ORDER BY r.rank)
                                                FROM replies r
                                               WHERE r.parent_id = t.id AND r.rank <= 3
                                          ), '[]'::json),
                                          'pageInfo', json_build_object('hasNextPage',
                                              EXISTS (SELECT 1 FROM replies r
                                                       WHERE r.parent_id = t.id AND r.rank = 4)))
                                  )) ORDER BY t.rank)
                             FROM top_page t WHERE t.post_id = p.id AND t.rank <= 5
                       ), '[]'::json),
                       'pageInfo', json_build_object('hasNextPage',
                           EXISTS (SELECT 1 FROM top_page t
                                    WHERE t.post_id = p.id AND t.rank = 6)))))
               ORDER BY p.pinned DESC, p.created_at DESC, p.id DESC)
          FROM shown p), '[]'::json),
    'pageInfo', json_build_object('hasNextPage', (SELECT count(*) FROM page) > 20)
))::text
""",
)

INBOX = Operation(
    name="BenchInbox",
    viewer_kind="patient",
    filled=("edges",),
    document="""
query BenchInbox {
  viewer {
    unreadNotificationCount
    notifications(first: 20) {
      edges {
        node {
          id
          kind
          actorRole
          details
          createdAt
          read
          subject { __typename id }
        }
      }
      pageInfo { hasNextPage }
    }
  }
}
""",
    baseline_sql=f"""
WITH page AS (
    SELECT n.* FROM notifications n WHERE n.user_id = $1
     ORDER BY n.created_at DESC, n.id DESC LIMIT 21
), shown AS (
    SELECT * FROM page ORDER BY created_at DESC, id DESC LIMIT 20
)
SELECT json_build_object('viewer', json_build_object(
    'unreadNotificationCount', (SELECT count(*) FROM notifications
                                 WHERE user_id = $1 AND read_at IS NULL),
    'notifications', json_build_object(
        'edges', coalesce((
            SELECT json_agg(json_build_object('node', json_build_object(
                       'id', {_global_id("Notification", "p.id")},
                       'kind', upper(p.kind),
                       'actorRole', p.actor_role,
                       'details', p.data,
                       'createdAt', p.created_at,
                       'read', p.read_at IS NOT NULL,
                       -- the subject through its policy (a patient reads their own)
                       'subject', CASE WHEN EXISTS (
                                      SELECT 1 FROM appointments a
                                       WHERE a.id = p.subject_id AND a.patient_id = $1)
                                  THEN json_build_object(
                                      '__typename', 'Appointment',
                                      'id', {_global_id("Appointment", "p.subject_id")})
                                  END))
                   ORDER BY p.created_at DESC, p.id DESC)
              FROM shown p), '[]'::json),
        'pageInfo', json_build_object('hasNextPage', (SELECT count(*) FROM page) > 20))
))::text
""",
)

# --- audit log ----------------------------------------------------------------------------

_AUDIT_CURSOR = _INSTANT_ID_CURSOR.format(instant=_iso_instant("l.created_at"), id="l.id")

AUDIT_LOG = Operation(
    name="BenchAuditLog",
    viewer_kind="admin",
    filled=("edges", "actor"),
    # An admin's audit screen: the newest 50 entries (no filter), who did what on which
    # object, the changed fields, and a cursor for the next page.
    document="""
query BenchAuditLog {
  auditLog(first: 50) {
    edges {
      node {
        id
        createdAt
        actorRole
        action
        targetType
        targetId
        changes
        requestId
        actor { id fullName email }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}
""",
    # The audit policy: admins read every entry (others get FORBIDDEN); an admin reads
    # every user with their contact details (the users policy), so `actor` is any entry's
    # author that still exists.
    baseline_sql=f"""
WITH {_VIEWER}, page AS (
    SELECT l.* FROM audit_log l, viewer v
     WHERE v.is_admin
     ORDER BY l.created_at DESC, l.id DESC
     LIMIT 51
), shown AS (
    SELECT * FROM page ORDER BY created_at DESC, id DESC LIMIT 50
)
SELECT json_build_object('auditLog', json_build_object(
    'edges', coalesce((
        SELECT json_agg(json_build_object('node', json_build_object(
                   'id', {_global_id("AuditEntry", "l.id")},
                   'createdAt', {_iso_instant("l.created_at")},
                   'actorRole', l.actor_role, 'action', l.action,
                   'targetType', l.target_type,
                   'targetId', CASE WHEN l.target_id IS NOT NULL
                                    THEN {_global_id_of("l.target_type", "l.target_id")} END,
                   'changes', l.changes, 'requestId', l.request_id,
                   'actor', (SELECT json_build_object('id', {_global_id("User", "u.id")},
                                                      'fullName', u.full_name,
                                                      'email', u.email)
                               FROM users u WHERE u.id = l.actor_id)))
               ORDER BY l.created_at DESC, l.id DESC)
          FROM shown l), '[]'::json),
    'pageInfo', json_build_object(
        'hasNextPage', (SELECT count(*) FROM page) > 50,
        'endCursor', (SELECT {_AUDIT_CURSOR} FROM shown l
                       ORDER BY l.created_at, l.id LIMIT 1))
))::text
""",
)

OPERATIONS: tuple[Operation, ...] = (
    DIRECTORY,
    DIRECTORY_SERVICES,
    PATIENT_HOME,
    DOCTOR_DAY,
    DOCTOR_PATIENT_GOALS,
    CATALOG,
    FEED,
    INBOX,
    AUDIT_LOG,
)
BY_NAME = {operation.name: operation for operation in OPERATIONS}


# --- mutation mix ------------------------------------------------------------------------


def _operation_name(document: str) -> str:
    (definition,) = parse(document).definitions
    assert isinstance(definition, OperationDefinitionNode) and definition.name is not None
    return definition.name.value


@dataclass(frozen=True)
class MutationMix:
    """Hold + book + cancel as a patient: one cycle is three requests, the cancel carrying
    the id the booking returned. Every client is its own patient and cycles over its own
    open slots (on many doctors, a week out), so the cancel frees each slot again and
    repeated runs do not run out. No baseline: the issue asks ratios for reads only."""

    name: str
    hold: str
    book: str
    cancel: str
    slots: str
    """The query that lists the open slots the mix cycles over."""
    succeeded: tuple[str, str, str]
    """The `__typename` each step answers with when it worked."""

    def operation_names(self) -> tuple[str, str, str]:
        """The names of the hold, book and cancel operations (the access log's keys)."""
        hold, book, cancel = (
            _operation_name(document) for document in (self.hold, self.book, self.cancel)
        )
        return hold, book, cancel

    def viewers(self, count: int) -> list[int]:
        """Patients 2, 3, ...: clear of the read operations' viewers (1 + i * step)."""
        return [2 + i for i in range(count)]

    def slot_variables(self) -> dict[str, str]:
        today = datetime.now(UTC).date()
        return {
            "from": (today + timedelta(days=8)).isoformat(),
            "to": (today + timedelta(days=13)).isoformat(),
        }

    def usable_doctors(self, scale: Scale) -> set[str]:
        """Doctors without a daily cap (the generator caps every fifth), whose slots stay
        open however many mix clients book them at once."""
        return {
            str(format_id("Doctor", bench_id("doctor", n)))
            for n in range(1, scale.doctors + 1)
            if n % 5
        }


MUTATION_MIX = MutationMix(
    name="BenchMutationMix",
    hold="""
mutation BenchHold($doctorId: ID!, $startsAt: DateTime!) {
  holdSlot(input: {doctorId: $doctorId, startsAt: $startsAt}) {
    __typename
    ... on SlotHeld { hold { id expiresAt } }
    ... on UserError { code message }
  }
}
""",
    book="""
mutation BenchBook($doctorId: ID!, $startsAt: DateTime!) {
  bookAppointment(input: {doctorId: $doctorId, startsAt: $startsAt, notes: "Bench visit"}) {
    __typename
    ... on AppointmentBooked { appointment { id status startsAt amountDue currency } }
    ... on UserError { code message }
  }
}
""",
    cancel="""
mutation BenchCancel($id: ID!) {
  cancelAppointment(input: {id: $id, reason: "Bench cancellation"}) {
    __typename
    ... on AppointmentUpdated { appointment { id status } }
    ... on UserError { code message }
  }
}
""",
    slots="""
query BenchMixSlots($from: Date!, $to: Date!) {
  doctors(first: 100) {
    edges { node { id availableSlots(from: $from, to: $to) { startsAt } } }
  }
}
""",
    succeeded=("SlotHeld", "AppointmentBooked", "AppointmentUpdated"),
)


def mix_slots(mix: MutationMix, scale: Scale, data: dict[str, Any]) -> list[tuple[str, str]]:
    """(doctor id, startsAt) pairs from the `slots` query's data, spread over doctors and
    days (round-robin over the usable doctors)."""
    usable = mix.usable_doctors(scale)
    per_doctor = [
        [(edge["node"]["id"], slot["startsAt"]) for slot in edge["node"]["availableSlots"]]
        for edge in data["doctors"]["edges"]
        if edge["node"]["id"] in usable
    ]
    spread: list[tuple[str, str]] = []
    for round_ in range(max((len(slots) for slots in per_doctor), default=0)):
        spread += [slots[round_] for slots in per_doctor if round_ < len(slots)]
    return spread
