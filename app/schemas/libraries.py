"""Schemas of block libraries."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.schemas.common import TEXT_PATTERN

EXAMPLE_LIBRARY: dict[str, Any] = {
    "format": "molgfn-blocks/1",
    "name": "tiny",
    "blocks": [
        {"name": "benzene", "smiles": "c1ccccc1", "attachments": [0, 1, 2]},
        {"name": "amino", "smiles": "N", "attachments": [0, 0]},
        {"name": "carbonyl", "smiles": "C=O", "attachments": [0, 0]},
    ],
}


def _not_nullable(schema: dict[str, Any]) -> None:
    """Drop the ``null`` branch from a field's schema: absent means "not given", null is refused."""
    branches = [b for b in schema.pop("anyOf", []) if b.get("type") != "null"]
    if len(branches) == 1:
        schema.update(branches[0])
    elif branches:
        schema["anyOf"] = branches
    schema.pop("default", None)


class LibraryCreate(BaseModel):
    """A block library: fragments in the project's JSON format (or the original GFlowNet format), or
    molecules to fragment with BRICS. Give exactly one of ``library`` and ``molecules``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"name": "tiny", "library": EXAMPLE_LIBRARY},
                {"name": "from-my-actives", "molecules": ["CC(=O)Nc1ccc(O)cc1", "c1ccc2[nH]ccc2c1"]},
            ],
            # what the validator below enforces, stated in the schema (Swagger UI, clients, fuzzers)
            "oneOf": [
                {"required": ["library"], "not": {"required": ["molecules"]}},
                {"required": ["molecules"], "not": {"required": ["library"]}},
            ],
        },
    )

    name: str = Field(min_length=1, max_length=200, pattern=TEXT_PATTERN, description="A name for humans.")
    library: dict[str, Any] | list[Any] | None = Field(
        None,
        json_schema_extra=_not_nullable,
        description='Fragments: `{"blocks": [{"name", "smiles", "attachments": [atom, …]}]}` '
        "(project format), or the original format's columns `block_name`, `block_smi`, `block_r`.",
    )
    molecules: list[str] | None = Field(
        None,
        min_length=1,
        description="SMILES to decompose with RDKit BRICS into blocks.",
        json_schema_extra=_not_nullable,
    )

    @field_validator("library", "molecules", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:  # only an explicit null reaches here: an absent key keeps its default
            raise ValueError("must not be null")
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> LibraryCreate:
        if ("library" in self.model_fields_set) == ("molecules" in self.model_fields_set):
            raise ValueError("give exactly one of 'library' and 'molecules'")
        return self


class LibraryLinks(BaseModel):
    """Related resources."""

    self: str = Field(description="This library, with its blocks.")


class LibraryPublic(BaseModel):
    """A stored block library."""

    id: str = Field(description="Library id; pass it as `library` of POST /jobs.")
    name: str = Field(description="Name.")
    content_hash: str = Field(description="SHA-256 of the canonical block definitions.")
    source: Literal["builtin", "json", "brics"] = Field(description="How it was made.")
    n_fragments: int = Field(description="Distinct fragments.")
    n_block_types: int = Field(description="Distinct (fragment, anchor, stems) attachment actions.")
    n_initial: int = Field(description="Distinct first blocks.")
    created_at: datetime = Field(description="When it was stored (UTC).")
    links: LibraryLinks = Field(description="Related resources.")


class LibraryDetailPublic(LibraryPublic):
    """A stored block library with its blocks (project format)."""

    data: dict[str, Any] = Field(description="The library in the project's JSON format.")


class LibraryList(BaseModel):
    """All libraries (the default one included)."""

    items: list[LibraryPublic] = Field(description="Libraries, oldest first.")
