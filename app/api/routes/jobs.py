"""/jobs: start, watch, cancel training jobs; their metrics and candidate batches."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from app.api.deps import DbDep, OwnerDep, PoolDep, SettingsDep, require_api_key
from app.api.routes.params import JobIdPath, Offset
from app.errors import InvalidInput
from app.schemas.common import COMMON_ERRORS, CONFLICT, NOT_FOUND, TOO_MANY_REQUESTS
from app.schemas.jobs import JobCreate, JobList, JobMetricsPublic, JobPublic, JobStatus
from app.schemas.molecules import SampleBatchPublic
from app.services import jobs, molecules

router = APIRouter(prefix="/jobs", tags=["jobs"], dependencies=[Depends(require_api_key)], responses=COMMON_ERRORS)


@router.post("", status_code=202, response_model=JobPublic, responses=TOO_MANY_REQUESTS, summary="Start a training job")
def create_job(payload: JobCreate, db: DbDep, settings: SettingsDep, owner: OwnerDep, response: Response) -> JobPublic:
    """Validate the reward spec, the training configuration and the library, then queue the job.

    Answers 202 with the job and its `Location`; a worker picks it up (oldest first)."""
    job = jobs.create_job(db, settings, payload, owner)
    response.headers["Location"] = f"/jobs/{job.id}"
    return jobs.to_public(job)


@router.get("", response_model=JobList, summary="List jobs")
def list_jobs(
    db: DbDep,
    settings: SettingsDep,
    owner: OwnerDep,
    status: Annotated[JobStatus | None, Query(description="Only jobs with this status.")] = None,
    limit: Annotated[int, Query(ge=1, description="Page size (at most the service's max page size).")] = 50,
    offset: Offset = 0,
) -> JobList:
    """Jobs, newest first, paginated."""
    if limit > settings.max_page_size:
        raise InvalidInput("limit", f"at most {settings.max_page_size}")
    return jobs.list_jobs(db, status, limit, offset, owner)


@router.get("/{job_id}", response_model=JobPublic, responses=NOT_FOUND, summary="Get a job")
def get_job(job_id: JobIdPath, db: DbDep, owner: OwnerDep) -> JobPublic:
    """A job with its status, progress, latest metrics and error."""
    return jobs.to_public(jobs.get_job(db, job_id, owner))


@router.post(
    "/{job_id}/cancel",
    status_code=202,
    response_model=JobPublic,
    responses=NOT_FOUND | CONFLICT,
    summary="Cancel a job",
)
def cancel_job(job_id: JobIdPath, db: DbDep, owner: OwnerDep) -> JobPublic:
    """A queued job is cancelled at once; a running job gets `cancel_requested` and its worker stops
    within seconds (after a checkpoint). 409 when the job already finished."""
    return jobs.to_public(jobs.cancel_job(db, job_id, owner))


@router.get("/{job_id}/metrics", response_model=JobMetricsPublic, responses=NOT_FOUND, summary="Training metrics")
def job_metrics(job_id: JobIdPath, db: DbDep, owner: OwnerDep) -> JobMetricsPublic:
    """The time series of progress reports (loss, log Z, mean reward, throughput, …)."""
    return jobs.job_metrics(db, job_id, owner)


@router.get(
    "/{job_id}/samples",
    response_model=SampleBatchPublic,
    responses=NOT_FOUND | CONFLICT,
    summary="A diverse candidate batch",
)
def job_samples(
    job_id: JobIdPath,
    db: DbDep,
    settings: SettingsDep,
    pool: PoolDep,
    owner: OwnerDep,
    n: Annotated[int, Query(ge=1, description="Molecules wanted (at most the service limit).")] = 10,
    min_reward: Annotated[float | None, Query(description="Only molecules with at least this reward.")] = None,
    max_similarity: Annotated[
        float,
        Query(
            ge=0.0,
            le=1.0,
            description="Largest Tanimoto similarity (Morgan r=2, 2048 bits) between two molecules of the batch.",
        ),
    ] = 0.7,
    fresh: Annotated[
        bool,
        Query(
            description="true: sample anew from the newest checkpoint (409 if none "
            "yet) and store the samples; false: choose among stored molecules."
        ),
    ] = False,
) -> SampleBatchPublic:
    """Up to `n` molecules, best reward first, no two above `max_similarity` (greedy by reward)."""
    if n > settings.max_samples_per_request:
        raise InvalidInput("n", f"at most {settings.max_samples_per_request} per request")
    if fresh:
        return molecules.fresh_batch(db, settings, pool, job_id, n, min_reward, max_similarity, owner)
    return molecules.stored_batch(db, settings, job_id, n, min_reward, max_similarity, owner)
