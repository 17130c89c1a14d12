"""/libraries: block libraries to train on."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response

from app.api.deps import DbDep, SettingsDep, require_api_key
from app.api.routes.params import LibraryIdPath
from app.schemas.common import COMMON_ERRORS, NOT_FOUND
from app.schemas.libraries import LibraryCreate, LibraryDetailPublic, LibraryList, LibraryPublic
from app.services import libraries

#: OpenAPI link of a library response: train a job on it (POST /jobs with ``library`` = its id). Stateful
#: clients (schemathesis) follow it; the rest of the body is the client's own.
TRAIN_ON_LIBRARY: dict[str, Any] = {
    "TrainOnLibrary": {
        "operationRef": "#/paths/~1jobs/post",
        "requestBody": {"library": "$response.body#/id"},
        "description": "Start a training job on this library: its `id` is the `library` of POST /jobs.",
    }
}

router = APIRouter(
    prefix="/libraries", tags=["libraries"], dependencies=[Depends(require_api_key)], responses=COMMON_ERRORS
)


@router.get("", response_model=LibraryList, summary="List block libraries")
def list_libraries(db: DbDep) -> LibraryList:
    """Every stored library, the shipped `default` one included."""
    return LibraryList(items=[libraries.to_public(r) for r in libraries.list_libraries(db)])


@router.post(
    "",
    status_code=201,
    response_model=LibraryPublic,
    responses={
        201: {"links": TRAIN_ON_LIBRARY},
        200: {"model": LibraryPublic, "description": "The same blocks were already stored.", "links": TRAIN_ON_LIBRARY},
    },
    summary="Add a block library",
)
def create_library(payload: LibraryCreate, db: DbDep, settings: SettingsDep, response: Response) -> LibraryPublic:
    """Store a library given as fragments (project or original JSON format) or derived from molecules
    with BRICS. Libraries are deduplicated by content hash: posting known blocks answers 200 with the
    stored library."""
    row, created = libraries.create_library(db, payload, settings.max_library_molecules, settings.max_smiles_length)
    response.status_code = 201 if created else 200
    response.headers["Location"] = f"/libraries/{row.id}"
    return libraries.to_public(row)


@router.get(
    "/{library_id}",
    response_model=LibraryDetailPublic,
    responses=NOT_FOUND | {200: {"links": TRAIN_ON_LIBRARY}},
    summary="Get a library",
)
def get_library(library_id: LibraryIdPath, db: DbDep) -> LibraryDetailPublic:
    """A library with its blocks (`default` names the shipped one)."""
    if library_id == libraries.DEFAULT:
        return libraries.to_detail(libraries.ensure_default(db))
    with db.read() as session:
        return libraries.to_detail(libraries.get_library(session, library_id))
