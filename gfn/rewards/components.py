"""Reward components: RDKit descriptors, similarity, substructure and filter checks, model scores.

Each component maps a batch of RDKit molecules to a float64 array of *raw* values (before the
transform). A molecule on which a computation fails gets NaN, never an exception: the training loop
must not die on an odd molecule, and :mod:`gfn.rewards.compose` turns NaN into the floor reward.
Caching by canonical SMILES happens one level up, in :class:`gfn.rewards.compose.RewardFunction`.

QED is computed with RDKit's own desirability functions but from properties gathered here, which
skips the redundant ``RemoveHs`` copy, shares the Crippen logP with the ``logp`` component (RDKit
caches it on the molecule), and runs the 116 structural alerts in one C++ FilterCatalog call; the
values are identical to ``rdkit.Chem.QED.qed``.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import math
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt
from rdkit import Chem, DataStructs, RDConfig, rdBase
from rdkit.Chem import QED, rdFingerprintGenerator
from rdkit.Chem import rdMolDescriptors as rdmd
from rdkit.Chem.FilterCatalog import FilterCatalog, FilterCatalogEntry, FilterCatalogParams, SmartsMatcher

from gfn.errors import SpecError
from gfn.rewards import spec as S

if TYPE_CHECKING:
    from types import ModuleType

logger = logging.getLogger(__name__)

Values = npt.NDArray[np.float64]
StemLists = Sequence[Sequence[int] | None] | None


class Component(Protocol):
    """A batched scorer: raw values (NaN where uncomputable) for a list of molecules."""

    name: str

    def __call__(self, mols: Sequence[Chem.Mol], stems: StemLists = None) -> Values: ...


def _per_molecule(fn: Callable[[Chem.Mol], float], mols: Sequence[Chem.Mol], name: str) -> Values:
    out = np.empty(len(mols), dtype=np.float64)
    for i, mol in enumerate(mols):
        try:
            out[i] = float(fn(mol))
        except Exception:  # noqa: BLE001 - an odd molecule must not stop training
            logger.debug("%s failed on %s", name, Chem.MolToSmiles(mol), exc_info=True)
            out[i] = np.nan
    return out


# --------------------------------------------------------------------------------------------------
# Descriptors
# --------------------------------------------------------------------------------------------------


@functools.cache
def _qed_alert_catalog() -> FilterCatalog:
    catalog = FilterCatalog()
    for i, pattern in enumerate(QED.StructuralAlerts):
        catalog.AddEntry(FilterCatalogEntry(f"alert{i}", SmartsMatcher(pattern)))
    return catalog


def logp(mol: Chem.Mol) -> float:
    """Wildman-Crippen logP (RDKit caches it on the molecule, so QED reuses it)."""
    return float(rdmd.CalcCrippenDescriptors(mol)[0])


def mw(mol: Chem.Mol) -> float:
    """Average molecular weight (Da)."""
    return float(rdmd._CalcMolWt(mol))


def _without_hs(mol: Chem.Mol) -> Chem.Mol:
    """Like QED's ``Chem.RemoveHs`` but free for the usual molecule without explicit H atoms."""
    if mol.GetNumAtoms() == mol.GetNumHeavyAtoms():
        return mol
    return Chem.RemoveHs(mol)


def qed_properties(mol: Chem.Mol) -> QED.QEDproperties:
    """The eight QED properties exactly as ``rdkit.Chem.QED.properties`` computes them."""
    mol = _without_hs(mol)
    hba = 0
    for pattern in QED.Acceptors:
        if mol.HasSubstructMatch(pattern):
            hba += len(mol.GetSubstructMatches(pattern))
    return QED.QEDproperties(  # type: ignore[no-untyped-call]
        MW=rdmd._CalcMolWt(mol),
        ALOGP=logp(mol),
        HBA=hba,
        HBD=rdmd.CalcNumHBD(mol),
        PSA=rdmd.CalcTPSA(mol),
        ROTB=rdmd.CalcNumRotatableBonds(mol, rdmd.NumRotatableBondsOptions.Strict),
        AROM=len(Chem.GetSSSR(Chem.DeleteSubstructs(Chem.Mol(mol), QED.AliphaticRings))),
        ALERTS=len(_qed_alert_catalog().GetMatches(mol)),
    )


def qed(mol: Chem.Mol) -> float:
    """QED with RDKit's default (mean) weights."""
    return float(QED.qed(mol, qedProperties=qed_properties(mol)))  # type: ignore[no-untyped-call]


_SA_LOCK = threading.Lock()
_SA_MODULE: list[ModuleType] = []


def _sascorer() -> ModuleType:
    """RDKit's SA_Score module with its fragment scores, loaded once even when many threads (API
    requests) ask at the same time: unguarded, each first caller loaded the table again."""
    if not _SA_MODULE:
        with _SA_LOCK:
            if not _SA_MODULE:
                _SA_MODULE.append(_load_sascorer())
    return _SA_MODULE[0]


def _load_sascorer() -> ModuleType:
    path = os.path.join(RDConfig.RDContribDir, "SA_Score", "sascorer.py")
    spec = importlib.util.spec_from_file_location("molgfn_sascorer", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"RDKit's SA_Score contribution is missing ({path})")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.readFragmentScores()  # RDKit's own data file, shipped with RDKit
    return module


def _n_chiral_centers(mol: Chem.Mol) -> int:
    """``len(Chem.FindMolChiralCenters(mol, includeUnassigned=True))``, without its slow Python loops.

    Same steps as RDKit's legacy-perception branch (the default), iterating atoms by index.
    """
    if not Chem.GetUseLegacyStereoPerception():
        return len(Chem.FindMolChiralCenters(mol, includeUnassigned=True))  # type: ignore[no-untyped-call]
    get_atom = mol.GetAtomWithIdx
    atoms = [get_atom(i) for i in range(mol.GetNumAtoms())]
    for atom in atoms:
        atom.ClearProp("_ChiralityPossible")
    Chem.AssignStereochemistry(mol, force=True, flagPossibleStereoCenters=True, cleanIt=True)
    return sum(1 for a in atoms if a.HasProp("_CIPCode") or a.HasProp("_ChiralityPossible"))


def sa(mol: Chem.Mol) -> float:
    """Synthetic accessibility score (Ertl & Schuffenhauer 2009): 1 (easy) .. 10 (hard).

    RDKit's ``sascorer.calculateScore`` step for step (same fragment scores and penalties), with a
    faster chiral-centre count; equal to it to floating-point precision.
    """
    scorer = _sascorer()
    if not mol.GetNumAtoms():
        raise ValueError("empty molecule")
    nze = scorer.mfpgen.GetSparseCountFingerprint(mol).GetNonzeroElements()
    fscores = scorer._fscores
    score1 = 0.0
    nf = 0
    for bit, count in nze.items():
        nf += count
        score1 += fscores.get(bit, -4) * count
    score1 /= nf
    n_atoms = mol.GetNumAtoms()
    n_chiral = _n_chiral_centers(mol)
    n_bridgeheads = rdmd.CalcNumBridgeheadAtoms(mol)
    n_spiro = rdmd.CalcNumSpiroAtoms(mol)
    n_macrocycles = sum(1 for ring in mol.GetRingInfo().AtomRings() if len(ring) > 8)
    score2 = (
        0.0
        - (n_atoms**1.005 - n_atoms)
        - math.log10(n_chiral + 1)
        - math.log10(n_spiro + 1)
        - math.log10(n_bridgeheads + 1)
        - (math.log10(2) if n_macrocycles > 0 else 0.0)
    )
    score3 = math.log(float(n_atoms) / len(nze)) * 0.5 if n_atoms > len(nze) else 0.0
    raw = score1 + score2 + score3
    low, high = -4.0, 2.5
    value = 11.0 - (raw - low + 1) / (high - low) * 9.0
    if value > 8.0:
        value = 8.0 + math.log(value + 1.0 - 9.0)
    return float(min(max(value, 1.0), 10.0))


def sa_reference(mol: Chem.Mol) -> float:
    """RDKit's own ``sascorer.calculateScore`` (for tests and comparison)."""
    return float(_sascorer().calculateScore(mol))


DESCRIPTORS: dict[str, Callable[[Chem.Mol], float]] = {
    "qed": qed,
    "sa": sa,
    "logp": logp,
    "mw": mw,
    "tpsa": rdmd.CalcTPSA,
    "hbd": rdmd.CalcNumHBD,
    "hba": rdmd.CalcNumHBA,
    "rotatable_bonds": rdmd.CalcNumRotatableBonds,
    "rings": rdmd.CalcNumRings,
    "aromatic_rings": rdmd.CalcNumAromaticRings,
    "fsp3": rdmd.CalcFractionCSP3,
}


class Descriptor:
    """A per-molecule RDKit descriptor."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._fn = DESCRIPTORS[name]

    def __call__(self, mols: Sequence[Chem.Mol], stems: StemLists = None) -> Values:
        return _per_molecule(self._fn, mols, self.name)


# --------------------------------------------------------------------------------------------------
# Similarity
# --------------------------------------------------------------------------------------------------


class Similarity:
    """Tanimoto similarity (Morgan bit fingerprints) to reference molecules, max or mean."""

    name = "similarity"

    def __init__(self, params: S.SimilarityParams) -> None:
        self._gen = rdFingerprintGenerator.GetMorganGenerator(radius=params.radius, fpSize=params.n_bits)
        refs = [Chem.MolFromSmiles(s) for s in params.smiles]
        self._refs = [self._gen.GetFingerprint(m) for m in refs if m is not None]
        self._mean = params.aggregate == "mean"

    def similarity(self, mol: Chem.Mol) -> float:
        sims = DataStructs.BulkTanimotoSimilarity(self._gen.GetFingerprint(mol), self._refs)
        return float(np.mean(sims)) if self._mean else float(max(sims))

    def __call__(self, mols: Sequence[Chem.Mol], stems: StemLists = None) -> Values:
        return _per_molecule(self.similarity, mols, self.name)


# --------------------------------------------------------------------------------------------------
# Checks: substructure and filter catalogs (raw value 1 on pass, `penalty` on fail)
# --------------------------------------------------------------------------------------------------


class Check:
    """Base of pass/fail components; ``hard`` checks floor the reward in compose."""

    name: str
    penalty: float
    hard: bool

    def passes(self, mol: Chem.Mol) -> bool:
        raise NotImplementedError

    def passed(self, mols: Sequence[Chem.Mol]) -> Values:
        """1.0 pass, 0.0 fail, NaN if the check itself failed."""
        return _per_molecule(lambda m: 1.0 if self.passes(m) else 0.0, mols, self.name)

    def __call__(self, mols: Sequence[Chem.Mol], stems: StemLists = None) -> Values:
        ok = self.passed(mols)
        out: Values = np.where(ok == 1.0, 1.0, self.penalty)
        out[np.isnan(ok)] = np.nan
        return out


class Substructure(Check):
    """SMARTS check: ``forbid`` fails when any pattern matches, ``require`` unless all match."""

    name = "substructure"

    def __init__(self, params: S.SubstructureParams, penalty: float = 0.0, hard: bool = False) -> None:
        with rdBase.BlockLogs():
            self._patterns = [Chem.MolFromSmarts(s) for s in params.smarts]
        self._forbid = params.mode == "forbid"
        self.penalty = penalty
        self.hard = hard

    def passes(self, mol: Chem.Mol) -> bool:
        if self._forbid:
            return not any(mol.HasSubstructMatch(p) for p in self._patterns)
        return all(mol.HasSubstructMatch(p) for p in self._patterns)


@functools.cache
def _catalog(name: str) -> FilterCatalog:
    params = FilterCatalogParams()
    which = FilterCatalogParams.FilterCatalogs
    params.AddCatalog({"pains": which.PAINS, "brenk": which.BRENK}[name])
    return FilterCatalog(params)


def lipinski_violations(mol: Chem.Mol) -> int:
    """Rule-of-five violations: MW > 500, logP > 5, H-bond donors > 5, acceptors > 10."""
    return int(mw(mol) > 500) + int(logp(mol) > 5) + int(rdmd.CalcNumHBD(mol) > 5) + int(rdmd.CalcNumHBA(mol) > 10)


class Filter(Check):
    """PAINS (A, B, C) / Brenk catalogs must not match; Lipinski: at most ``max_violations``."""

    name = "filter"

    def __init__(self, params: S.FilterParams, penalty: float = 0.0, hard: bool = False) -> None:
        self._catalogs = [_catalog(c) for c in params.catalogs if c != "lipinski"]
        self._lipinski = "lipinski" in params.catalogs
        self._max_violations = params.max_violations
        self.penalty = penalty
        self.hard = hard

    def passes(self, mol: Chem.Mol) -> bool:
        if any(c.HasMatch(mol) for c in self._catalogs):
            return False
        return not (self._lipinski and lipinski_violations(mol) > self._max_violations)


# --------------------------------------------------------------------------------------------------
# Model scores
# --------------------------------------------------------------------------------------------------


def _batched_with_fallback(
    fn: Callable[[Sequence[Chem.Mol], StemLists], Values],
    mols: Sequence[Chem.Mol],
    stems: StemLists,
    name: str,
) -> Values:
    """Score a batch; if the batch fails, score molecule by molecule (NaN for the failures)."""
    try:
        return fn(mols, stems)
    except Exception:  # noqa: BLE001
        logger.debug("%s failed on a batch; retrying one by one", name, exc_info=True)
    out = np.full(len(mols), np.nan)
    for i, mol in enumerate(mols):
        try:
            out[i] = fn([mol], None if stems is None else [stems[i]])[0]
        except Exception:  # noqa: BLE001
            logger.debug("%s failed on %s", name, Chem.MolToSmiles(mol), exc_info=True)
    return out


class SehProxyComponent:
    """The sEH proxy score (numpy); ``stems`` flag open attachment atoms, else atom 0."""

    name = "seh_proxy"

    def __init__(self, params: S.SehProxyParams, field: str = "params.weights") -> None:
        from gfn.rewards.seh_proxy import load_seh_proxy

        self.model = load_seh_proxy(params.weights, field=field)

    def __call__(self, mols: Sequence[Chem.Mol], stems: StemLists = None) -> Values:
        return _batched_with_fallback(self.model.score_mols, mols, stems, self.name)


class ProxyComponent:
    """A model trained by ``molgfn proxy train`` (imports torch when built)."""

    name = "proxy"

    def __init__(self, params: S.ProxyParams, field: str = "params.model") -> None:
        from gfn.rewards.proxy import load_proxy_model

        self.model = load_proxy_model(params.model, field=field)
        self._normalize = params.normalize

    def __call__(self, mols: Sequence[Chem.Mol], stems: StemLists = None) -> Values:
        values = _batched_with_fallback(lambda m, _s: self.model.predict_mols(m), mols, stems, self.name)
        if self._normalize:
            values = self.model.normalize(values)
        return values


# --------------------------------------------------------------------------------------------------
# Factory
# --------------------------------------------------------------------------------------------------


def build_component(name: str, params: Mapping[str, Any], field: str = "params") -> Component:
    """The component ``name`` with validated ``params``; ``field`` prefixes build-time errors.

    Build-time problems (a missing weights file or model directory) raise :class:`SpecError`.
    """
    if name in DESCRIPTORS:
        return Descriptor(name)
    if name == "similarity":
        return Similarity(S.SimilarityParams.model_validate(params))
    if name == "substructure":
        p = S.SubstructureParams.model_validate(params)
        return Substructure(p, penalty=p.penalty, hard=p.hard)
    if name == "filter":
        f = S.FilterParams.model_validate(params)
        return Filter(f, penalty=f.penalty, hard=f.hard)
    if name == "seh_proxy":
        return SehProxyComponent(S.SehProxyParams.model_validate(params), field=f"{field}.weights")
    if name == "proxy":
        return ProxyComponent(S.ProxyParams.model_validate(params), field=f"{field}.model")
    raise SpecError(field, f"unknown component {name!r}")
