"""Turn a :class:`RewardSpec` into a batched, cached reward function.

``build_reward(spec)`` returns a :class:`RewardFunction`: ``fn(smiles_list)`` and
``fn.score_mols(mols)`` give one :class:`ScoredMolecule` per input. For each molecule:

1. every component computes its raw value (NaN if it cannot), then its transform;
2. the weighted aggregate over components with weight > 0 (negative scores count as 0 for the
   geometric mean and the product, whose logs would otherwise be undefined);
3. ``reward = max(aggregate, min_reward) ** beta``; an unparsable molecule, a NaN anywhere in the
   aggregate, a failed hard filter or a failed ``hard`` check give the floor ``min_reward ** beta``.

``components`` in the result holds each component's *raw* value (e.g. MW in Da), keyed by name
(``qed``, ``qed_2`` for a second ``qed``), and omits values that could not be computed.

Results are cached in a bounded LRU keyed by the input SMILES (the training loop passes canonical
SMILES, so this is the canonical key) and by the canonical SMILES of every molecule scored, so a
molecule is computed once per reward function however it was spelled.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import threading
import weakref
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from rdkit import Chem, rdBase

from gfn.rewards import components as C
from gfn.rewards.spec import RewardSpec, parse_reward_spec
from gfn.rewards.transforms import apply_transform

logger = logging.getLogger(__name__)

Values = npt.NDArray[np.float64]
StemLists = Sequence[Sequence[int] | None] | None
DEFAULT_CACHE_SIZE = 200_000
PARALLEL_MIN_BATCH = 32  # smaller batches are not worth the inter-process round trip


@dataclass(frozen=True, slots=True)
class ScoredMolecule:
    """The reward of one molecule and its components' raw values.

    ``smiles`` is the canonical RDKit SMILES (``None`` when the input does not parse, in which case
    ``valid`` is false, ``components`` is empty and ``reward`` is the floor).
    """

    smiles: str | None
    reward: float
    components: dict[str, float] = field(default_factory=dict)
    valid: bool = True

    @property
    def log_reward(self) -> float:
        """log(reward); -inf for a zero reward (only possible with ``min_reward`` 0)."""
        return math.log(self.reward) if self.reward > 0 else -math.inf


def component_keys(names: Sequence[str]) -> list[str]:
    """Output keys for component names: duplicates become ``name_2``, ``name_3``, ..."""
    seen: dict[str, int] = {}
    keys = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        keys.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return keys


def _first_output_atom(mol: Chem.Mol) -> int:
    """Index of the atom written first by the last ``Chem.MolToSmiles(mol)``: canonical atom 0.

    ``seh_proxy`` flags canonical atom 0 of a molecule scored without stems. The network is
    permutation-invariant apart from that flag, so flagging this atom in the molecule's own
    order gives the score of the canonically renumbered molecule (up to float rounding) without
    building the renumbered copy. Falls back to atom 0 (the given order) if the property is absent.
    """
    try:
        text = mol.GetProp("_smilesAtomOutputOrder")  # "[3,0,1,2]" (RDKit writes no spaces)
        end = text.find(",")
        return int(text[1:end] if end > 0 else text.strip("[],"))
    except Exception:  # noqa: BLE001 - fall back to the given order rather than fail
        logger.debug("no canonical atom order on a molecule; flagging its atom 0", exc_info=True)
        return 0


class _LRU:
    """A small thread-safe LRU dict."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._data: OrderedDict[Any, ScoredMolecule] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> ScoredMolecule | None:
        if self.maxsize <= 0:
            return None
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: Any, value: ScoredMolecule) -> None:
        if self.maxsize <= 0:
            return
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


def _stem_key(stems: Sequence[int] | None) -> tuple[int, ...]:
    return tuple(sorted({int(a) for a in stems})) if stems else ()


class RewardFunction:
    """A reward spec, built: call it on SMILES or use :meth:`score_mols` on RDKit molecules.

    ``stems`` (optional, one list of atom indices per molecule, in the atom order of the given
    SMILES or Mol) are passed to ``seh_proxy`` as the open attachment atoms; without them it flags
    atom 0 of the canonical SMILES, as the original code does for a bare molecule.
    """

    def __init__(self, spec: RewardSpec, cache_size: int = DEFAULT_CACHE_SIZE, workers: int = 1) -> None:
        self.spec = spec
        self.workers = max(1, int(workers))
        self._pool: ProcessPoolExecutor | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self.component_names: list[str] = component_keys([c.name for c in spec.components])
        self._components = [
            C.build_component(c.name, c.params, field=f"components[{i}].params") for i, c in enumerate(spec.components)
        ]
        self._filters = [
            C.build_component(f.name, f.params, field=f"filters[{i}].params") for i, f in enumerate(spec.filters)
        ]
        self._weights = np.array([c.weight for c in spec.components], dtype=np.float64)
        self._active = np.nonzero(self._weights > 0)[0]
        self._floor = float(spec.min_reward**spec.beta)
        self._cache = _LRU(cache_size)
        self._hits = 0  # molecules answered from the cache (or a repeat within the batch)
        self._misses = 0  # molecules computed (invalid inputs count as neither)

    # ------------------------------------------------------------------ public API

    def __call__(self, smiles: Sequence[str], stems: StemLists = None) -> list[ScoredMolecule]:
        """Score SMILES (any spelling); the result's ``smiles`` is canonical."""
        self._check_stems(len(smiles), stems)
        results: list[ScoredMolecule | None] = [None] * len(smiles)
        first: dict[Any, int] = {}  # key -> index of its first occurrence among the misses
        repeats: list[tuple[int, int]] = []
        todo: list[int] = []
        keys: list[Any] = []
        for i, text in enumerate(smiles):
            key = (text, _stem_key(stems[i])) if stems is not None and stems[i] else text
            keys.append(key)
            hit = self._cache.get(key)
            if hit is not None:
                results[i] = hit
                self._hits += 1
            elif key in first:
                repeats.append((i, first[key]))
                self._hits += 1
            else:
                first[key] = i
                todo.append(i)
        if todo:
            todo_stems = None if stems is None else [stems[i] for i in todo]
            scored = None
            if self.workers > 1 and len(todo) >= PARALLEL_MIN_BATCH:
                scored = self._score_in_workers([smiles[i] for i in todo], todo_stems)
            if scored is None:
                with rdBase.BlockLogs():
                    mols = [Chem.MolFromSmiles(smiles[i]) if smiles[i] else None for i in todo]
                scored = self._score_new(mols, todo_stems, count=True)
            for i, result in zip(todo, scored, strict=True):
                results[i] = result
                self._cache.put(keys[i], result)
        for i, j in repeats:
            results[i] = results[j]
        return [r for r in results if r is not None]

    def score_mols(self, mols: Sequence[Chem.Mol | None], stems: StemLists = None) -> list[ScoredMolecule]:
        """Score RDKit molecules (``None`` -> invalid); cached by canonical SMILES."""
        self._check_stems(len(mols), stems)
        return self._score_new(list(mols), None if stems is None else list(stems), count=True)

    def rewards(self, smiles: Sequence[str], stems: StemLists = None) -> Values:
        """Just the rewards, as a float64 array."""
        return np.array([r.reward for r in self(smiles, stems)], dtype=np.float64)

    @property
    def floor(self) -> float:
        """The reward of an invalid or filtered molecule: ``min_reward ** beta``."""
        return self._floor

    def cache_info(self) -> dict[str, int]:
        return {
            "hits": self._hits,
            "misses": self._misses,
            "size": len(self._cache),
            "maxsize": self._cache.maxsize,
        }

    def close(self) -> None:
        """Stop the worker processes (if any); the function still works, single-process."""
        if self._finalizer is not None:
            self._finalizer()
        self._pool = None
        self._finalizer = None

    def __enter__(self) -> RewardFunction:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def clear_cache(self) -> None:
        self._cache.clear()
        self._hits = self._misses = 0

    # ------------------------------------------------------------------ internals

    def _score_in_workers(
        self, smiles: list[str], stems: list[Sequence[int] | None] | None
    ) -> list[ScoredMolecule] | None:
        """Score in the process pool (started on first use); None if the pool fails."""
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),  # no fork of a threaded parent
                initializer=_init_worker,
                initargs=(self.spec.model_dump(mode="json"),),
            )
            self._finalizer = weakref.finalize(self, self._pool.shutdown, wait=False, cancel_futures=True)
        # two chunks per worker, so that a worker slowed by other processes does not hold up the batch
        n_chunks = max(1, min(2 * self.workers, len(smiles) // (PARALLEL_MIN_BATCH // 2)))
        size = -(-len(smiles) // n_chunks)
        chunks = [
            (smiles[i : i + size], None if stems is None else stems[i : i + size]) for i in range(0, len(smiles), size)
        ]
        try:
            futures = [self._pool.submit(_score_chunk, chunk, chunk_stems) for chunk, chunk_stems in chunks]
            out = [r for f in futures for r in f.result()]
        except Exception:  # noqa: BLE001 - a dead pool must not stop training: score in-process
            logger.warning("reward worker pool failed; scoring in-process from now on", exc_info=True)
            self.close()
            self.workers = 1
            return None
        for result, stem in zip(out, stems or [None] * len(out), strict=True):
            if result.valid:
                self._misses += 1
                if not stem and result.smiles is not None:
                    self._cache.put(result.smiles, result)
        return out

    @staticmethod
    def _check_stems(n: int, stems: StemLists) -> None:
        if stems is not None and len(stems) != n:
            raise ValueError(f"stems: expected {n} entries (one per molecule), got {len(stems)}")

    def _invalid(self) -> ScoredMolecule:
        return ScoredMolecule(smiles=None, reward=self._floor, components={}, valid=False)

    def _score_new(
        self, mols: list[Chem.Mol | None], stems: list[Sequence[int] | None] | None, count: bool
    ) -> list[ScoredMolecule]:
        """Score molecules, consulting the canonical-SMILES cache; invalid ones get the floor.

        Repeats of a molecule (same canonical SMILES, no stems) are computed once.
        """
        results: list[ScoredMolecule | None] = [None] * len(mols)
        todo: list[int] = []
        first: dict[str, int] = {}
        repeats: list[tuple[int, int]] = []
        canon: list[str] = [""] * len(mols)
        for i, mol in enumerate(mols):
            if mol is None or mol.GetNumAtoms() == 0:
                results[i] = self._invalid()
                continue
            try:
                canon[i] = Chem.MolToSmiles(mol)
            except Exception:  # noqa: BLE001 - e.g. a molecule that fails to sanitise on output
                results[i] = self._invalid()
                continue
            if stems is not None and stems[i]:
                todo.append(i)
                continue
            hit = self._cache.get(canon[i])
            if hit is not None:
                results[i] = hit
                self._hits += 1
            elif canon[i] in first:
                repeats.append((i, first[canon[i]]))
                self._hits += 1
            else:
                first[canon[i]] = i
                todo.append(i)
        if todo:
            self._misses += len(todo)
            new = self._compute_safely(
                [mols[i] for i in todo],  # type: ignore[misc]
                [canon[i] for i in todo],
                None if stems is None else [stems[i] for i in todo],
            )
            for i, result in zip(todo, new, strict=True):
                results[i] = result
                if stems is None or not stems[i]:
                    self._cache.put(canon[i], result)
        for i, j in repeats:
            results[i] = results[j]
        return [r for r in results if r is not None]

    def _compute_safely(
        self, mols: list[Chem.Mol], canon: list[str], stems: list[Sequence[int] | None] | None
    ) -> list[ScoredMolecule]:
        """:meth:`_compute`, but an unexpected error costs only the molecule that causes it (floor)."""
        try:
            return self._compute(mols, canon, stems)
        except Exception:  # noqa: BLE001 - the training loop must not die on one odd molecule
            logger.warning("reward computation failed on a batch; retrying one by one", exc_info=True)
        out = []
        for k, mol in enumerate(mols):
            try:
                out += self._compute([mol], [canon[k]], None if stems is None else [stems[k]])
            except Exception:  # noqa: BLE001
                logger.warning("reward computation failed on %s; floor reward", canon[k], exc_info=True)
                out.append(ScoredMolecule(smiles=canon[k], reward=self._floor, components={}, valid=True))
        return out

    def _compute(
        self, mols: list[Chem.Mol], canon: list[str], stems: list[Sequence[int] | None] | None
    ) -> list[ScoredMolecule]:
        n = len(mols)
        raw = np.empty((n, len(self._components)), dtype=np.float64)
        scores = np.empty_like(raw)
        hard_fail = np.zeros(n, dtype=bool)
        proxy_stems: list[Sequence[int] | None] = []

        def canonical_stems() -> list[Sequence[int] | None]:
            # seh_proxy flags atom 0 when no stems are given: flag canonical atom 0 instead
            if not proxy_stems:
                proxy_stems.extend(
                    stems[k] if stems is not None and stems[k] else [_first_output_atom(m)] for k, m in enumerate(mols)
                )
            return proxy_stems

        for j, (comp, cspec) in enumerate(zip(self._components, self.spec.components, strict=True)):
            if isinstance(comp, C.SehProxyComponent):
                values = comp(mols, canonical_stems())
            elif isinstance(comp, C.Check) and comp.hard:
                passed = comp.passed(mols)
                hard_fail |= passed != 1.0
                values = np.where(passed == 1.0, 1.0, comp.penalty)
                values[np.isnan(passed)] = np.nan
            else:
                values = comp(mols, stems)
            raw[:, j] = values
            scores[:, j] = apply_transform(cspec.transform, values)
        for filt, fspec in zip(self._filters, self.spec.filters, strict=True):
            if isinstance(filt, C.Check):
                hard_fail |= filt.passed(mols) != 1.0
            else:
                values = filt(mols, canonical_stems() if isinstance(filt, C.SehProxyComponent) else stems)
                ok = ~np.isnan(values)
                if fspec.min is not None:
                    ok &= values >= fspec.min
                if fspec.max is not None:
                    ok &= values <= fspec.max
                hard_fail |= ~ok
        agg = aggregate(scores[:, self._active], self._weights[self._active], self.spec.aggregate)
        with np.errstate(invalid="ignore"):
            floored = np.where(np.isnan(agg) | hard_fail, self.spec.min_reward, np.maximum(agg, self.spec.min_reward))
        reward = floored**self.spec.beta
        out = []
        for k in range(n):
            comps = {key: float(raw[k, j]) for j, key in enumerate(self.component_names) if math.isfinite(raw[k, j])}
            out.append(ScoredMolecule(smiles=canon[k], reward=float(reward[k]), components=comps, valid=True))
        return out


_WORKER_FN: RewardFunction | None = None  # set in each pool worker process by _init_worker


def _init_worker(spec_json: dict[str, Any]) -> None:
    global _WORKER_FN
    _WORKER_FN = RewardFunction(parse_reward_spec(spec_json), cache_size=0)
    # Load what components build lazily (SA fragment scores, alert catalogs, BLAS) now, at pool
    # start-up, rather than inside the first batch a caller is waiting for.
    try:
        _WORKER_FN(["CC(=O)Nc1ccc(O)cc1"])
    except Exception:  # noqa: BLE001 - a failed warm-up only costs time later
        logger.debug("reward worker warm-up failed", exc_info=True)


def _score_chunk(smiles: list[str], stems: list[Sequence[int] | None] | None) -> list[ScoredMolecule]:
    assert _WORKER_FN is not None, "worker not initialised"
    return _WORKER_FN(smiles, stems)


def aggregate(scores: Values, weights: Values, how: str) -> Values:
    """Weighted aggregate over the columns of ``scores`` (n molecules x k components).

    geometric_mean exp(sum w log s / sum w); arithmetic_mean sum w s / sum w; product
    prod s^w; min over columns. Negative scores count as 0 for the geometric mean and the product.
    A single component is returned as is (so an identity transform gives the raw value).
    """
    if scores.shape[1] == 1 and how != "product":
        out: Values = scores[:, 0].copy()
        return out
    total = float(weights.sum())
    if how == "arithmetic_mean":
        out = scores @ weights / total
        return out
    if how == "min":
        out = scores.min(axis=1)
        return out
    clipped = np.clip(scores, 0.0, None)  # NaN stays NaN
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log(clipped) * weights  # log 0 = -inf; weights are > 0 here
        log_sum = logs.sum(axis=1)
    if how == "geometric_mean":
        out = np.exp(log_sum / total)
        return out
    if how == "product":
        out = np.exp(log_sum)
        return out
    raise ValueError(f"unknown aggregate {how!r}")


def build_reward(
    spec: RewardSpec | Mapping[str, Any], cache_size: int = DEFAULT_CACHE_SIZE, workers: int = 1
) -> RewardFunction:
    """Validate (if needed) and build ``spec``; a problem raises :class:`gfn.errors.SpecError`.

    ``workers`` > 1 scores batches of at least ``PARALLEL_MIN_BATCH`` SMILES in that many spawned
    processes (RDKit holds the GIL); call ``close()`` or use the function as a context manager to
    stop them. Worth it for RDKit-heavy specs on idle cores; the default is in-process.
    """
    return RewardFunction(parse_reward_spec(spec), cache_size=cache_size, workers=workers)


def score_smiles(spec: RewardSpec | Mapping[str, Any], smiles: Sequence[str]) -> list[ScoredMolecule]:
    """One-shot scoring (the service's ``POST /score`` and ``molgfn score``), no cache kept."""
    return build_reward(spec, cache_size=max(len(smiles), 1))(smiles)
