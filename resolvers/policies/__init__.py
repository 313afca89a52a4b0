"""The RLS mirror: one policy per table, the only place that says who may read or write rows.

Each policy turns a Viewer into a SQL predicate for reads (`read`) and answers write
checks. Every read, root or nested, paginated or counted, starts from `visible(Model,
viewer)` or adds `readable(Model, viewer)` to its WHERE clause. `service_role` bypasses
every policy here, in one place.
"""

from resolvers.policies import (
    appointments,
    audit,
    availability,
    coaching,
    community,
    doctors,
    goals,
    lessons,
    notifications,
    services,
    users,
    webhooks,
)
from resolvers.policies.base import TablePolicy, policy_for, readable, require, visible

__all__ = [
    "TablePolicy",
    "appointments",
    "audit",
    "availability",
    "coaching",
    "community",
    "doctors",
    "goals",
    "lessons",
    "notifications",
    "policy_for",
    "readable",
    "require",
    "services",
    "users",
    "visible",
    "webhooks",
]
