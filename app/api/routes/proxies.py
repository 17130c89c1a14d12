"""/proxies: reward proxies trained from uploaded CSV data (a job of kind ``proxy``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Response, UploadFile

from app.api.deps import DbDep, OwnerDep, SettingsDep, require_api_key
from app.api.routes.params import ProxyIdPath
from app.schemas.common import COMMON_ERRORS, NOT_FOUND, TEXT_PATTERN
from app.schemas.proxies import ProxyList, ProxyPublic
from app.services import proxies

router = APIRouter(
    prefix="/proxies", tags=["proxies"], dependencies=[Depends(require_api_key)], responses=COMMON_ERRORS
)


@router.post("", status_code=202, response_model=ProxyPublic, summary="Train a proxy from a CSV")
def create_proxy(
    db: DbDep,
    settings: SettingsDep,
    owner: OwnerDep,
    response: Response,
    file: Annotated[
        UploadFile,
        File(
            description="CSV with a SMILES column and a numeric value column "
            "(salts are reduced to their largest fragment, repeats averaged)."
        ),
    ],
    name: Annotated[str, Form(min_length=1, max_length=200, pattern=TEXT_PATTERN, description="A name for humans.")],
    smiles_column: Annotated[
        str, Form(min_length=1, max_length=200, pattern=TEXT_PATTERN, description="Column holding SMILES.")
    ] = "smiles",
    value_column: Annotated[
        str,
        Form(
            min_length=1,
            max_length=200,
            pattern=TEXT_PATTERN,
            description="Column holding the target value (higher = better for rewards; use a transform otherwise).",
        ),
    ] = "value",
    separator: Annotated[str, Form(description="Field separator: ',', ';', '|' or 'tab'.")] = ",",
    epochs: Annotated[int, Form(ge=1, le=1000, description="Training epochs.")] = 40,
    seed: Annotated[int, Form(ge=0, description="Random seed (split and initialisation).")] = 0,
) -> ProxyPublic:
    """Upload data and queue a job that trains an MPNN regressor on it. When the job has succeeded,
    use the proxy in reward specs as `{"name": "proxy", "params": {"model": "<proxy id>"}}`."""
    row, job = proxies.create_proxy(
        db,
        settings,
        upload=file.file,
        name=name,
        smiles_column=smiles_column,
        value_column=value_column,
        separator=separator,
        epochs=epochs,
        seed=seed,
        owner=owner,
    )
    response.headers["Location"] = f"/proxies/{row.id}"
    return proxies.to_public(row, job)


@router.get("", response_model=ProxyList, summary="List proxies")
def list_proxies(db: DbDep, owner: OwnerDep) -> ProxyList:
    """Every proxy with its training status and metrics."""
    return proxies.list_proxies(db, owner)


@router.get("/{proxy_id}", response_model=ProxyPublic, responses=NOT_FOUND, summary="Get a proxy")
def get_proxy(proxy_id: ProxyIdPath, db: DbDep, owner: OwnerDep) -> ProxyPublic:
    """A proxy with its training status and held-out metrics."""
    return proxies.to_public(*proxies.get_proxy(db, proxy_id, owner))
