"""Schemas of reward proxies trained from uploaded data."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from app.schemas.jobs import JobStatus


class ProxyLinks(BaseModel):
    """Related resources."""

    self: str = Field(description="This proxy.")
    job: str = Field(description="The job training it.")


class ProxyPublic(BaseModel):
    """A proxy reward model (an MPNN regressor) trained from an uploaded CSV.

    Use it in a reward spec as ``{"name": "proxy", "params": {"model": "<this id>"}}``."""

    id: str = Field(description="Proxy id: the `params.model` of a `proxy` reward component.")
    name: str = Field(description="Name.")
    job_id: str = Field(description="The job that trains it.")
    status: JobStatus = Field(description="Status of the training job; usable once `succeeded`.")
    smiles_column: str = Field(description="CSV column with the SMILES.")
    value_column: str = Field(description="CSV column with the target value.")
    n_rows: int = Field(description="Data rows in the uploaded CSV.")
    trained: bool = Field(description="Whether a trained model is available.")
    metrics: dict[str, Any] | None = Field(
        description="Held-out metrics once trained (test_rmse, test_spearman, val_rmse, …)."
    )
    error: str | None = Field(description="Why training failed (null unless failed).")
    created_at: datetime = Field(description="When it was uploaded (UTC).")
    links: ProxyLinks = Field(description="Related resources.")


class ProxyList(BaseModel):
    """All proxies, newest first."""

    items: list[ProxyPublic] = Field(description="Proxies.")
