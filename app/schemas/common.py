"""Schemas shared by several routes: the error body and JSON-object fields documented by reference."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, WithJsonSchema

#: Marks a JSON-object field that ``app.main`` documents as a ``$ref`` to a library model's schema.
REF_MARKER = "x-molgfn-schema"

#: A reward spec as posted: validated by ``gfn.rewards.spec.parse_reward_spec`` (errors name the field),
#: documented in OpenAPI by reference to the library's RewardSpec model (see ``app.main``).
RewardSpecJSON = Annotated[
    dict[str, Any],
    WithJsonSchema({"type": "object", REF_MARKER: "RewardSpec"}),
]
#: A training CONFIG (as for ``molgfn train --config``), validated by ``parse_training_config``.
TrainingConfigJSON = Annotated[
    dict[str, Any],
    WithJsonSchema({"type": "object", REF_MARKER: "TrainingConfig"}),
]

#: Ids in paths, filters and bodies: the service issues 32 hex digits (and the library ``default``);
#: any short token of these characters is accepted (unknown ones are 404), anything else (NUL bytes,
#: which PostgreSQL text cannot hold, kilobytes of junk) is refused with 422 before it reaches the database.
ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
#: Free text stored in a text column (names, CSV column names): anything but NUL bytes.
TEXT_PATTERN = r"^[^\x00]*$"
#: Largest integer a database id or offset can hold (signed 64 bits, SQLite and PostgreSQL ``bigint``).
MAX_DB_INT = 2**63 - 1

EXAMPLE_REWARD: dict[str, Any] = {
    "components": [
        {"name": "qed", "weight": 2.0},
        {"name": "sa", "transform": {"type": "reverse_sigmoid", "low": 2.0, "high": 6.0}},
        {"name": "mw", "transform": {"type": "double_sigmoid", "low": 200, "high": 500}},
    ],
    "aggregate": "geometric_mean",
    "beta": 4.0,
    "min_reward": 1e-4,
}
EXAMPLE_TRAINING: dict[str, Any] = {"loss": "tb", "steps": 500, "batch_size": 32, "max_blocks": 6, "seed": 0}


class ErrorPublic(BaseModel):
    """Body of every error response."""

    code: str = Field(
        description="Machine-readable kind: not_found, conflict, invalid, unavailable, …",
        examples=["invalid"],
    )
    message: str = Field(
        description="One line for humans: '<field>: <reason>' for invalid input.",
        examples=["training.steps: Input should be greater than or equal to 1"],
    )
    field: str | None = Field(
        None, description="The offending field (dotted path), when there is one.", examples=["training.steps"]
    )
    reason: str = Field(
        description="Why the request was refused.", examples=["Input should be greater than or equal to 1"]
    )


COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorPublic, "description": "Missing or unknown X-API-Key (when keys are configured)."},
    413: {"model": ErrorPublic, "description": "Request body larger than the configured limit."},
    422: {"model": ErrorPublic, "description": "Invalid input: the field and the reason."},
    503: {"model": ErrorPublic, "description": "Database (or sampling pool) unavailable."},
}
TOO_MANY_REQUESTS: dict[int | str, dict[str, Any]] = {
    429: {"model": ErrorPublic, "description": "A per-key quota is used up (active jobs); retry after `Retry-After`."}
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorPublic, "description": "Unknown id."}}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorPublic, "description": "Impossible in the resource's current state."}
}


class PageLinks(BaseModel):
    """Links of a page of results."""

    next: str | None = Field(None, description="The next page (same filters), or null on the last page.")
