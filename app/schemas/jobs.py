"""Schemas of training jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.schemas.common import (
    EXAMPLE_REWARD,
    EXAMPLE_TRAINING,
    ID_PATTERN,
    PageLinks,
    RewardSpecJSON,
    TrainingConfigJSON,
)

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
JobKind = Literal["gflownet", "proxy"]


class JobCreate(BaseModel):
    """Start training a GFlowNet on a reward."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"reward": EXAMPLE_REWARD, "training": EXAMPLE_TRAINING, "library": "default"},
                {"reward": {"components": [{"name": "qed"}]}, "training": {"steps": 100, "batch_size": 16}},
            ]
        },
    )

    reward: RewardSpecJSON = Field(
        description="The reward spec (RewardSpec): components, transforms, "
        "weights, aggregation, beta and the reward floor."
    )
    training: TrainingConfigJSON = Field(
        default_factory=dict,
        description="Training configuration (as `molgfn train --config`): loss, steps, batch_size, "
        "max_blocks, min_blocks, seed, device, …; unknown keys are an error. Omitted keys take defaults.",
    )
    library: str = Field(
        "default",
        min_length=1,
        max_length=64,
        pattern=ID_PATTERN,
        description="Block library: `default` (shipped) or the id of a posted library.",
    )


class JobProgress(BaseModel):
    """How far a job is."""

    step: int = Field(description="Optimiser steps done.")
    total_steps: int = Field(description="Optimiser steps requested.")
    fraction: float = Field(description="step / total_steps, in [0, 1].")
    unique_molecules: int = Field(description="Distinct molecules visited during training so far.")
    checkpoint_step: int | None = Field(description="Step of the newest checkpoint (null: none yet).")


class JobLinks(BaseModel):
    """Related resources."""

    self: str = Field(description="This job.")
    metrics: str = Field(description="Training metrics time series.")
    samples: str = Field(description="A diverse batch of candidates.")
    molecules: str = Field(description="Molecules stored for this job.")
    cancel: str = Field(description="POST here to cancel.")


class JobPublic(BaseModel):
    """A job as the API shows it."""

    id: str = Field(description="Job id (32 hex digits).")
    kind: JobKind = Field(description="gflownet (training a sampler) or proxy (training a reward model).")
    status: JobStatus = Field(description="queued → running → succeeded | failed | cancelled.")
    library_id: str | None = Field(description="Id of the block library the job trains on.")
    reward: dict[str, Any] | None = Field(description="The reward spec as posted.")
    training: dict[str, Any] = Field(description="The resolved training configuration (defaults filled in).")
    progress: JobProgress = Field(description="Steps done, molecules seen, newest checkpoint.")
    latest_metrics: dict[str, Any] | None = Field(
        description="Metrics of the latest progress report (loss, log_z, mean_reward, trajectories_per_s, …)."
    )
    error: str | None = Field(description="Why the job failed (null unless failed).")
    cancel_requested: bool = Field(description="A cancel was requested; a running job stops within seconds.")
    attempts: int = Field(description="How many times a worker claimed the job.")
    worker_id: str | None = Field(description="The worker running the job (null unless running).")
    created_at: datetime = Field(description="When the job was posted (UTC).")
    started_at: datetime | None = Field(description="When a worker first claimed it.")
    finished_at: datetime | None = Field(description="When it reached a final status.")
    heartbeat_at: datetime | None = Field(description="The running worker's last heartbeat.")
    links: JobLinks = Field(description="Related resources.")


class JobList(BaseModel):
    """A page of jobs, newest first."""

    items: list[JobPublic] = Field(description="The jobs of this page.")
    limit: int = Field(description="Page size.")
    offset: int = Field(description="Jobs skipped before this page.")
    links: PageLinks = Field(description="Next page.")


class JobMetricPublic(BaseModel):
    """One progress report."""

    step: int = Field(description="Optimiser step of the report.")
    loss: float | None = Field(description="Training loss (mean over the report's window).")
    log_z: float | None = Field(description="Learned log partition function (TB), or null.")
    mean_reward: float | None = Field(description="Mean reward of the sampled trajectories.")
    unique_molecules: int | None = Field(description="Distinct molecules visited so far.")
    trajectories_per_s: float | None = Field(description="Training throughput.")
    extra: dict[str, float] | None = Field(description="Further metrics reported by the trainer.")
    created_at: datetime = Field(description="When the report was written (UTC).")


class JobMetricsPublic(BaseModel):
    """The metrics time series of a job, oldest first."""

    job_id: str = Field(description="The job.")
    items: list[JobMetricPublic] = Field(description="Progress reports in step order.")
