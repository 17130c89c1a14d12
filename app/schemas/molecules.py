"""Schemas of stored molecules and candidate batches."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.schemas.common import PageLinks

MoleculeOrder = Literal["-reward", "reward", "-times_sampled", "times_sampled", "id", "-id"]


class MoleculeLinks(BaseModel):
    """Related resources."""

    self: str = Field(description="This molecule.")
    image: str = Field(description="2D depiction (SVG).")
    job: str = Field(description="The job that produced it.")


class MoleculePublic(BaseModel):
    """A distinct molecule of a job."""

    id: int = Field(description="Molecule id.")
    job_id: str = Field(description="The job that produced it.")
    smiles: str = Field(description="Canonical RDKit SMILES.", examples=["c1ccc(-c2ccncc2)cc1"])
    inchikey: str | None = Field(description="Standard InChIKey.")
    reward: float = Field(description="Reward under the job's spec (after transforms, aggregation, beta).")
    components: dict[str, float | None] | None = Field(
        description="Raw or transformed value of each reward component, by component name."
    )
    times_sampled: int = Field(description="How often it was sampled (training visits plus fresh samples).")
    first_seen_step: int | None = Field(
        description="Training step when first visited (null: only sampled fresh after training)."
    )
    created_at: datetime = Field(description="When it was first stored (UTC).")
    links: MoleculeLinks = Field(description="Related resources.")


class MoleculeList(BaseModel):
    """A page of molecules."""

    items: list[MoleculePublic] = Field(description="Molecules of this page.")
    limit: int = Field(description="Page size.")
    offset: int = Field(description="Molecules skipped before this page.")
    links: PageLinks = Field(description="Next page.")


class SampleBatchPublic(BaseModel):
    """A diverse candidate batch: no two molecules above ``max_similarity`` Tanimoto to each other."""

    job_id: str = Field(description="The job.")
    fresh: bool = Field(description="True: newly sampled from the newest checkpoint; false: from storage.")
    n: int = Field(description="Molecules requested (the batch may be smaller).")
    min_reward: float | None = Field(description="Reward floor applied.")
    max_similarity: float = Field(
        description="Largest Tanimoto similarity (Morgan r=2, 2048 bits) allowed between two molecules of the batch."
    )
    selection: Literal["greedy_by_reward"] = Field(
        description="Best reward first; a candidate is kept when its similarity to every kept one is at "
        "most max_similarity."
    )
    checkpoint_step: int | None = Field(description="Checkpoint sampled from (fresh only).")
    n_sampled: int = Field(description="Trajectories sampled (fresh) or stored candidates considered.")
    n_candidates: int = Field(description="Distinct valid candidates above the reward floor.")
    items: list[MoleculePublic] = Field(description="The batch, best reward first.")
