"""Jobs, for admins: the queue's health and retrying failed jobs. Importing this module
also registers every kind of job (`resolvers.core.jobs`), as a worker must before it
takes jobs."""

from __future__ import annotations

from resolvers import appointments as appointments  # registers its kinds
from resolvers import notifications as notifications  # registers its kinds
from resolvers import webhooks as webhooks  # registers its kinds
from resolvers.core.context import Context
from resolvers.core.errors import ValidationFailed
from resolvers.core.jobs import JOB_KINDS, QueueHealth, queue_health
from resolvers.core.jobs import retry_failed_jobs as requeue_failed
from resolvers.policies import require

MAX_RETRY_IDS = 100

__all__ = ["JOB_KINDS", "job_queue", "retry_failed_jobs"]


def _require_admin(ctx: Context) -> None:
    require(ctx.viewer.is_admin or ctx.viewer.is_service, "Only admins see the job queue.")


async def job_queue(ctx: Context) -> QueueHealth:
    _require_admin(ctx)
    return await queue_health(ctx.db)


async def retry_failed_jobs(ctx: Context, ids: list[int] | None) -> int:
    """Queues failed jobs again (those of `ids`, or all), attempts reset; how many."""
    _require_admin(ctx)
    if ids is not None and len(ids) > MAX_RETRY_IDS:
        raise ValidationFailed.single("jobIds", f"at most {MAX_RETRY_IDS}")
    async with ctx.db.transaction() as session:
        return await requeue_failed(session, ids)
