"""The job queue, for admins (GraphiQL): its health, and retrying failed jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from resolvers import jobs as job_resolvers
from resolvers.core.jobs import QueueHealth
from schema.engine.look_ahead import GraphQLInfo
from schema.mutation_results import NotAllowed, NotFoundError, ValidationError, mutation_result


@strawberry.type(description="How many jobs of one kind are in one state.")
class JobCount:
    kind: str = strawberry.field(description="The job's kind, e.g. `appointment.lapse`.")
    state: str = strawberry.field(
        description="`scheduled` (not due yet), `waiting` (due, not taken), `running`, "
        "or `failed` (out of attempts; see `retryFailedJobs`)."
    )
    count: int = strawberry.field(description="How many.")


@strawberry.type(description="A job that ran out of attempts and waits for an admin.")
class FailedJob:
    job_id: int = strawberry.field(description="The job's number in the queue.")
    kind: str = strawberry.field(description="The job's kind.")
    failed_at: datetime = strawberry.field(description="When its last attempt failed.")
    attempts: int = strawberry.field(description="Attempts made before it was kept.")
    error: str = strawberry.field(description="The last attempt's error message.")


@strawberry.type(description="The job queue's health (the same for every process).")
class JobQueue:
    counts: list[JobCount] = strawberry.field(description="Jobs by kind and state.")
    oldest_waiting_seconds: float | None = strawberry.field(
        description="How long the longest-waiting due job has waited; null when none waits."
    )
    failures_last_day: int = strawberry.field(
        description="Job runs that raised in the last 24 hours (retried or kept as failed)."
    )
    failed: list[FailedJob] = strawberry.field(description="Failed jobs, newest first (20).")

    @classmethod
    def from_health(cls, health: QueueHealth) -> JobQueue:
        return cls(
            counts=[JobCount(kind=c.kind, state=c.state, count=c.count) for c in health.counts],
            oldest_waiting_seconds=health.oldest_waiting_seconds,
            failures_last_day=health.failures_last_day,
            failed=[
                FailedJob(
                    job_id=f.id,
                    kind=f.kind,
                    failed_at=f.failed_at,
                    attempts=f.attempts,
                    error=f.error,
                )
                for f in health.failed
            ],
        )


@strawberry.input(description="Which failed jobs to queue again: `jobIds`, or all when omitted.")
class RetryFailedJobsInput:
    job_ids: list[int] | None = strawberry.field(
        default=None, description="These failed jobs (at most 100); omit for all."
    )


@strawberry.type(description="Failed jobs are queued again, their attempts reset.")
class FailedJobsRetried:
    count: int = strawberry.field(description="How many were queued again.")


RetryFailedJobsResult = Annotated[
    FailedJobsRetried | ValidationError | NotAllowed | NotFoundError,
    strawberry.union("RetryFailedJobsResult", description="Result of retryFailedJobs."),
]


@strawberry.type
class JobsQuery:
    @strawberry.field(description="Admins: the job queue's health. Others get FORBIDDEN.")
    async def job_queue(self, info: GraphQLInfo) -> JobQueue:
        return JobQueue.from_health(await job_resolvers.job_queue(info.context))


@strawberry.type
class JobsMutation:
    @strawberry.mutation(description="Admins: queue failed jobs again (attempts reset).")
    async def retry_failed_jobs(
        self,
        info: GraphQLInfo,
        input: Annotated[RetryFailedJobsInput, strawberry.argument(description="The input.")],
    ) -> RetryFailedJobsResult:
        return await mutation_result(
            lambda: job_resolvers.retry_failed_jobs(info.context, input.job_ids),
            lambda count: FailedJobsRetried(count=count),
        )
