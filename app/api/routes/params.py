"""Typed path and query parameters shared by the routes: ids and offsets bounded so that no input can
reach the database in a form it cannot store or compare (NUL bytes, integers beyond 64 bits)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from app.schemas.common import ID_PATTERN, MAX_DB_INT

JobIdPath = Annotated[str, Path(pattern=ID_PATTERN, description="Job id (32 hex digits).")]
LibraryIdPath = Annotated[
    str, Path(pattern=ID_PATTERN, description="Library id (32 hex digits), or `default` for the shipped one.")
]
ProxyIdPath = Annotated[str, Path(pattern=ID_PATTERN, description="Proxy id (32 hex digits).")]
MoleculeIdPath = Annotated[int, Path(ge=1, le=MAX_DB_INT, description="Molecule id.")]
JobIdFilter = Annotated[str | None, Query(pattern=ID_PATTERN, description="Only molecules of this job.")]
Offset = Annotated[int, Query(ge=0, le=MAX_DB_INT, description="Items to skip.")]
