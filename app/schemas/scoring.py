"""Schemas of POST /score."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from app.schemas.common import EXAMPLE_REWARD, RewardSpecJSON


class ScoreCreate(BaseModel):
    """Score SMILES under a reward spec."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"reward": EXAMPLE_REWARD, "smiles": ["CCO", "c1ccccc1O", "not-a-smiles"]}]},
    )

    reward: RewardSpecJSON = Field(description="The reward spec (RewardSpec).")
    smiles: list[str] = Field(min_length=1, description="Molecules to score (any valid SMILES).")


class ScoredPublic(BaseModel):
    """The score of one input SMILES."""

    smiles: str = Field(description="The SMILES as given.")
    canonical_smiles: str | None = Field(description="Canonical RDKit SMILES (null when invalid).")
    valid: bool = Field(description="Whether RDKit could parse and sanitize it.")
    reward: float | None = Field(description="Reward (null when invalid).")
    components: dict[str, float | None] = Field(description="Value of each component, by name.")


class ScorePublic(BaseModel):
    """Scores in input order."""

    items: list[ScoredPublic] = Field(description="One entry per input SMILES, in order.")
