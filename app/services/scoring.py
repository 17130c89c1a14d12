"""POST /score: reward and components per SMILES with ``gfn.rewards.compose.score_smiles``.

RDKit and numpy components (``seh_proxy`` included) run in the API process; a spec with a
torch-based component (``proxy``) is scored in the sampling pool instead.
"""

from __future__ import annotations

from app.db.session import Database
from app.errors import InvalidInput
from app.jsonguard import long_string
from app.schemas.scoring import ScoreCreate, ScoredPublic, ScorePublic
from app.services import chem, pool_tasks
from app.services.rewards import TORCH_COMPONENTS, component_names, validate
from app.services.sampling_pool import SamplingPool
from app.settings import Settings


def score(settings: Settings, db: Database, pool: SamplingPool, payload: ScoreCreate) -> ScorePublic:
    """Score ``payload.smiles`` under ``payload.reward`` (order kept; invalid SMILES get null reward)."""
    if len(payload.smiles) > settings.max_score_smiles:
        raise InvalidInput("smiles", f"at most {settings.max_score_smiles} SMILES per request (max_score_smiles)")
    where = long_string(payload.smiles, settings.max_smiles_length, "smiles")
    if where is not None:
        raise InvalidInput(where, f"longer than {settings.max_smiles_length} characters (max_smiles_length)")
    resolved, spec = validate(payload.reward, settings, db)
    if component_names(resolved) & TORCH_COMPONENTS:
        results = pool.run(pool_tasks.score, resolved, payload.smiles)
    else:
        from gfn.rewards.compose import score_smiles

        results = [pool_tasks.scored_to_dict(m) for m in score_smiles(spec, list(payload.smiles))]
    items = []
    for given, r in zip(payload.smiles, results, strict=True):
        valid = bool(r["valid"]) and r["reward"] is not None
        items.append(
            ScoredPublic(
                smiles=given,
                canonical_smiles=chem.canonical(given) if valid else None,
                valid=valid,
                reward=r["reward"] if valid else None,
                components=r["components"],
            )
        )
    return ScorePublic(items=items)
