"""/molecules: stored molecules, their scores and depictions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from app.api.deps import DbDep, OwnerDep, SettingsDep, require_api_key
from app.api.routes.params import JobIdFilter, MoleculeIdPath, Offset
from app.errors import InvalidInput
from app.schemas.common import COMMON_ERRORS, NOT_FOUND
from app.schemas.molecules import MoleculeList, MoleculeOrder, MoleculePublic
from app.services import molecules

router = APIRouter(
    prefix="/molecules", tags=["molecules"], dependencies=[Depends(require_api_key)], responses=COMMON_ERRORS
)


@router.get("", response_model=MoleculeList, summary="List molecules")
def list_molecules(
    db: DbDep,
    settings: SettingsDep,
    owner: OwnerDep,
    job_id: JobIdFilter = None,
    min_reward: Annotated[float | None, Query(description="Only molecules with at least this reward.")] = None,
    order_by: Annotated[MoleculeOrder, Query(description="Sort key; a leading '-' sorts descending.")] = "-reward",
    limit: Annotated[int, Query(ge=1, description="Page size (at most the service's max page size).")] = 100,
    offset: Offset = 0,
) -> MoleculeList:
    """Stored molecules, filtered and sorted (best reward first by default), paginated."""
    if limit > settings.max_page_size:
        raise InvalidInput("limit", f"at most {settings.max_page_size}")
    return molecules.list_molecules(
        db, job_id=job_id, min_reward=min_reward, order_by=order_by, limit=limit, offset=offset, owner=owner
    )


@router.get("/{molecule_id}", response_model=MoleculePublic, responses=NOT_FOUND, summary="Get a molecule")
def get_molecule(molecule_id: MoleculeIdPath, db: DbDep, owner: OwnerDep) -> MoleculePublic:
    """A molecule with its reward and component scores."""
    return molecules.to_public(molecules.get_molecule(db, molecule_id, owner))


@router.get(
    "/{molecule_id}/image.svg",
    response_class=Response,
    responses=NOT_FOUND
    | {
        200: {
            "content": {"image/svg+xml": {"schema": {"type": "string"}}},
            "description": "SVG depiction (RDKit rdMolDraw2D).",
        }
    },
    summary="Depict a molecule",
)
def molecule_image(
    molecule_id: MoleculeIdPath,
    db: DbDep,
    owner: OwnerDep,
    width: Annotated[int, Query(ge=50, le=2000, description="Width in pixels.")] = 300,
    height: Annotated[int, Query(ge=50, le=2000, description="Height in pixels.")] = 300,
) -> Response:
    """The molecule drawn in 2D as SVG."""
    svg = molecules.image_svg(db, molecule_id, width, height, owner)
    return Response(content=svg, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"})
