"""RDKit helpers of the service: canonical forms, InChIKeys, diversity selection, depictions.

Diversity: fingerprints are Morgan (radius 2, 2048 bits) and similarity is Tanimoto. Selection is
**greedy by reward** (not RDKit's MaxMinPicker): candidates are visited best reward first and kept
when their similarity to every molecule kept so far is at most ``max_similarity``. Candidates are
meant to be good *and* diverse, and greedy-by-reward never trades a high-reward molecule for a far
but poor one; it is also deterministic (ties broken by SMILES) and O(n·k) for k kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from rdkit import Chem, DataStructs, rdBase
from rdkit.Chem import rdFingerprintGenerator
from rdkit.Chem.Draw import rdMolDraw2D

FP_RADIUS = 2
FP_BITS = 2048


@lru_cache(maxsize=1)
def _generator() -> Any:
    return rdFingerprintGenerator.GetMorganGenerator(radius=FP_RADIUS, fpSize=FP_BITS)


def mol_from_smiles(smiles: str) -> Chem.Mol | None:
    """Parse quietly; None when RDKit cannot parse or sanitize."""
    if not smiles:
        return None
    with rdBase.BlockLogs():
        return Chem.MolFromSmiles(smiles)


def canonical(smiles: str) -> str | None:
    """Canonical RDKit SMILES, or None when invalid."""
    mol = mol_from_smiles(smiles)
    return None if mol is None else Chem.MolToSmiles(mol)


def inchikey(smiles: str) -> str | None:
    """Standard InChIKey, or None when it cannot be computed."""
    mol = mol_from_smiles(smiles)
    return None if mol is None else mol_inchikey(mol)


def mol_inchikey(mol: Chem.Mol) -> str | None:
    """Standard InChIKey of a molecule, or None when InChI fails."""
    try:
        with rdBase.BlockLogs():
            key = str(Chem.MolToInchiKey(mol))  # type: ignore[no-untyped-call]
    except Exception:  # noqa: BLE001 - InChI can fail on exotic valences; the key is optional
        return None
    return key or None


def fingerprint(smiles: str) -> Any:
    """Morgan fingerprint (r=2, 2048 bits), or None when invalid."""
    mol = mol_from_smiles(smiles)
    return None if mol is None else mol_fingerprint(mol)


def mol_fingerprint(mol: Chem.Mol) -> Any:
    """Morgan fingerprint (r=2, 2048 bits) of a molecule."""
    return _generator().GetFingerprint(mol)


def fingerprint_from_binary(data: bytes) -> Any:
    """A fingerprint from ``ExplicitBitVect.ToBinary()`` (as computed in the sampling pool)."""
    return DataStructs.ExplicitBitVect(data)  # type: ignore[call-overload]


def tanimoto(a: str, b: str) -> float:
    """Tanimoto similarity of two SMILES' fingerprints."""
    return float(DataStructs.TanimotoSimilarity(fingerprint(a), fingerprint(b)))


@dataclass(frozen=True)
class Candidate:
    """A molecule offered to the diversity selection."""

    smiles: str
    reward: float
    fp: Any = None  # precomputed fingerprint (else computed from the SMILES)


def _fp(c: Candidate) -> Any:
    return c.fp if c.fp is not None else fingerprint(c.smiles)


def greedy_diverse(
    candidates: Sequence[Candidate], n: int, max_similarity: float, chosen: Sequence[Candidate] = ()
) -> list[Candidate]:
    """Up to ``n`` candidates (plus those already ``chosen``, which count towards n and constrain
    the rest), best reward first, no pair above ``max_similarity`` Tanimoto. Returns the new picks."""
    picked_fps = [fp for fp in (_fp(c) for c in chosen) if fp is not None]
    seen = {c.smiles for c in chosen}
    out: list[Candidate] = []
    budget = n - len(chosen)
    for cand in sorted(candidates, key=lambda c: (-c.reward, c.smiles)):
        if len(out) >= budget:
            break
        if cand.smiles in seen:
            continue
        fp = _fp(cand)
        if fp is None:
            continue
        if picked_fps and max(DataStructs.BulkTanimotoSimilarity(fp, picked_fps)) > max_similarity:
            continue
        seen.add(cand.smiles)
        picked_fps.append(fp)
        out.append(cand)
    return out


def svg(smiles: str, width: int = 300, height: int = 300) -> str | None:
    """A 2D depiction as SVG text, or None when the SMILES is invalid."""
    mol = mol_from_smiles(smiles)
    if mol is None:
        return None
    drawer = rdMolDraw2D.MolDraw2DSVG(width, height)
    rdMolDraw2D.PrepareAndDrawMolecule(drawer, mol)
    drawer.FinishDrawing()
    return str(drawer.GetDrawingText())
