"""/score: reward and components of given SMILES."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from app.api.deps import DbDep, PoolDep, SettingsDep, require_api_key
from app.schemas.common import COMMON_ERRORS
from app.schemas.scoring import ScoreCreate, ScorePublic
from app.services import scoring

router = APIRouter(tags=["scoring"], dependencies=[Depends(require_api_key)], responses=COMMON_ERRORS)


@router.post("/score", response_model=ScorePublic, summary="Score SMILES under a reward spec")
def score(payload: ScoreCreate, settings: SettingsDep, db: DbDep, pool: PoolDep) -> ScorePublic:
    """Reward and each component's value per SMILES, in input order; invalid SMILES get `valid: false`
    and a null reward."""
    return scoring.score(settings, db, pool, payload)
