"""The pretrained sEH binding proxy of Bengio et al. 2021, re-implemented in numpy (no torch).

The network is the original ``MPNNet_v2``: ``lin0`` + LeakyReLU, 12 rounds of an edge-conditioned
convolution (NNConv, mean aggregation) followed by a GRU, a 3-step Set2Set readout and ``lin3``. The
weights come from ``seh_proxy.npz`` (see ``shared/README.md``); nothing is ever downloaded.

Why numpy: the API process must score without importing torch, and the proxy is small enough that
plain BLAS is fast. What makes it fast (profiled: the matmuls and the GRU's exp dominate):

* the edge network only ever sees 4 one-hot bond types (or the all-zero vector of a self-loop or an
  exotic bond), so its 64x64 output matrices are computed once at load time, not per edge per step;
* a whole batch of molecules is one disjoint graph; h_j @ W_t is computed only for the (atom, bond
  type) pairs that send a message, and each atom sums its messages through a padded neighbour table
  (max degree ~4) instead of a scatter;
* per step and block of atoms there are just two batched matmuls (all h-side terms: root, GRU
  hidden; all m-side terms) into preallocated, gate-major buffers, so every elementwise pass runs on
  a contiguous, cache-resident array; the GRU's sign and scale factors are folded into the weights
  so that sigmoid and tanh each cost one ``np.exp`` pass (see :meth:`SEHProxy.forward`);
* featurization reads bonds from RDKit's adjacency matrix (C++), not a Python loop over bonds.

Measured on the 2-core development machine (float32, one thread, ChEMBL ligands of ~28 atoms):
~1.5 ms of CPU per molecule for the network, of which ~0.8 ms are the matmuls (~30 GFLOP/s, the
BLAS peak there), ~0.26 ms ``np.exp`` and ~0.15 ms the neighbour gathers. Run it with
``OPENBLAS_NUM_THREADS=1``: these matmuls are too small for BLAS threads, and with OpenBLAS's
default (one thread per core) the network ran 3-4x slower on that machine when other processes
were busy. Use processes for parallelism (``build_reward(..., workers=2)``).

The stem mask (feature 70) marks the open attachment atoms; with none given, atom 0 is flagged as in
the original code, so the score of a bare molecule depends on its atom order: callers that want
order-independent results flag the first atom of the canonical SMILES (as
:mod:`gfn.rewards.compose` does) or parse canonical SMILES.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from gfn.errors import SpecError

if TYPE_CHECKING:
    from rdkit import Chem

WEIGHTS_ENV = "MOLGFN_SEH_PROXY_WEIGHTS"
N_ATOM_FEATURES = 71
HIDDEN = 64
N_CONV_STEPS = 12
N_SET2SET_STEPS = 3
LEAKY_SLOPE = 0.01
#: Edge type index used for the all-zero bond feature vector (self-loops, dative/other bonds).
ZERO_EDGE = 4
#: Atoms per block in the convolution/GRU loop (see :meth:`SEHProxy.forward`).
BLOCK_ROWS = 512

_REQUIRED_KEYS = (
    "lin0.weight", "lin0.bias", "conv.nn.0.weight", "conv.nn.0.bias", "conv.nn.2.weight",
    "conv.nn.2.bias", "conv.root", "conv.bias", "gru.weight_ih_l0", "gru.weight_hh_l0",
    "gru.bias_ih_l0", "gru.bias_hh_l0", "set2set.lstm.weight_ih_l0", "set2set.lstm.weight_hh_l0",
    "set2set.lstm.bias_ih_l0", "set2set.lstm.bias_hh_l0", "lin3.weight", "lin3.bias",
)  # fmt: skip

FloatArray = npt.NDArray[np.floating[Any]]
IntArray = npt.NDArray[np.int64]
StemLists = Sequence[Sequence[int] | None] | None


@dataclass(frozen=True)
class GraphBatch:
    """Several molecules as one disjoint graph (atoms of molecule k are contiguous).

    ``src``/``dst``/``edge_type`` are sorted by destination atom; ``edge_type`` is 0..3 for single,
    double, triple, aromatic and :data:`ZERO_EDGE` for an all-zero bond feature vector.
    """

    x: npt.NDArray[np.float64]
    src: IntArray
    dst: IntArray
    edge_type: IntArray
    mol_start: IntArray
    n_atoms: IntArray

    @property
    def n_mols(self) -> int:
        return int(self.mol_start.shape[0])


def _bond_type_index() -> dict[Any, int]:
    from rdkit import Chem

    bt = Chem.BondType
    return {bt.SINGLE: 0, bt.DOUBLE: 1, bt.TRIPLE: 2, bt.AROMATIC: 3}


@functools.cache
def _flag_columns() -> list[tuple[int, Chem.Mol]]:
    """(feature column, one-atom query): aromatic, and hybridization SP, SP2, SP3 (SMARTS ``^n``).

    One C++ substructure search per flag and molecule is ~3x cheaper than asking every atom from
    Python (``GetHybridization`` builds an enum object per call).
    """
    from rdkit import Chem

    return [
        (column, Chem.MolFromSmarts(smarts))
        for column, smarts in ((9, "[a]"), (10, "[^1]"), (11, "[^2]"), (12, "[^3]"))
    ]


# element one-hot column by atomic number: H, C, N, O, F, anything else (index 10 stands for "> 9")
_ELEMENT_COLUMN_LUT = np.array([5, 0, 5, 5, 5, 5, 1, 2, 3, 4, 5], dtype=np.int64)


def _unusual_bond_query() -> Chem.Mol:
    from rdkit import Chem

    query = Chem.MolFromSmarts("*!-;!=;!#;!:*")  # a bond that is not single/double/triple/aromatic
    assert query is not None
    return query


# bond order (as 2 * GetBondTypeAsDouble) -> edge type: single 0, double 1, triple 2, aromatic 3
_BOND_ORDER_TYPE = np.array([-1, -1, 0, 3, 1, -1, 2], dtype=np.int64)


def _edges(mol: Chem.Mol, bond_index: Mapping[Any, int], unusual: Chem.Mol) -> tuple[IntArray, ...]:
    """Directed edges (src, dst, type) of one molecule, sorted by (dst, src).

    The adjacency matrix is ~50x faster than iterating bonds from Python; molecules with other bond
    types (dative, zero-order, ...) take the slow path so that those bonds get all-zero features.
    """
    from rdkit import Chem

    if mol.GetNumBonds() == 0:  # the original code gives a bond-less molecule a zero-feature self-loop
        zero = np.zeros(1, dtype=np.int64)
        return zero, zero, np.full(1, ZERO_EDGE, dtype=np.int64)
    if not mol.HasSubstructMatch(unusual):
        adj = Chem.GetAdjacencyMatrix(mol, useBO=True)
        dst, src = np.nonzero(adj)  # row-major: sorted by dst, then src
        return src, dst, _BOND_ORDER_TYPE[np.rint(adj[dst, src] * 2).astype(np.int64)]
    triples = []
    for b in mol.GetBonds():
        i, j, t = b.GetBeginAtomIdx(), b.GetEndAtomIdx(), bond_index.get(b.GetBondType(), ZERO_EDGE)
        triples += [(j, i, t), (i, j, t)]  # (dst, src, type)
    triples.sort()
    arr = np.asarray(triples, dtype=np.int64)
    return arr[:, 1], arr[:, 0], arr[:, 2]


def featurize(mols: Sequence[Chem.Mol], stems: StemLists = None) -> GraphBatch:
    """Atom features (71 columns, see ``shared/README.md``) and bond-type edges of ``mols``.

    ``stems[k]`` lists the atom indices of molecule k flagged in column 70; ``None`` or empty means
    atom 0 is flagged. Every molecule must have at least one atom.
    """
    if stems is not None and len(stems) != len(mols):
        raise ValueError(f"stems: expected {len(mols)} lists, got {len(stems)}")
    bond_index = _bond_type_index()
    flag_columns = _flag_columns()
    z_list: list[int] = []
    n_h: list[int] = []
    flag_rows: list[int] = []
    flag_cols: list[int] = []
    stem_rows: list[int] = []
    src: list[IntArray] = []
    dst: list[IntArray] = []
    etype: list[IntArray] = []
    unusual = _unusual_bond_query()
    n_atoms = np.empty(len(mols), dtype=np.int64)
    offset = 0
    for k, mol in enumerate(mols):
        n = mol.GetNumAtoms()
        if n == 0:
            raise ValueError(f"molecule {k} has no atoms")
        n_atoms[k] = n
        get_atom = mol.GetAtomWithIdx  # ~2x faster than iterating mol.GetAtoms()
        atoms = [get_atom(i) for i in range(n)]
        z_list += [a.GetAtomicNum() for a in atoms]
        n_h += [a.GetTotalNumHs() for a in atoms]
        for column, query in flag_columns:
            for (i,) in mol.GetSubstructMatches(query, uniquify=False, maxMatches=n):
                flag_rows.append(offset + i)
                flag_cols.append(column)
        stem_atoms = stems[k] if stems is not None else None
        if stem_atoms:
            for a in stem_atoms:
                if not 0 <= int(a) < n:
                    raise ValueError(f"stems[{k}]: atom index {a} out of range for {n} atoms")
                stem_rows.append(offset + int(a))
        else:
            stem_rows.append(offset)
        s_k, d_k, t_k = _edges(mol, bond_index, unusual)
        src.append(s_k + offset)
        dst.append(d_k + offset)
        etype.append(t_k)
        offset += n
    x = np.zeros((offset, N_ATOM_FEATURES), dtype=np.float64)
    rows = np.arange(offset)
    z = np.asarray(z_list, dtype=np.int64)
    x[rows, _ELEMENT_COLUMN_LUT[np.minimum(z, _ELEMENT_COLUMN_LUT.shape[0] - 1)]] = 1.0
    in_table = (z >= 1) & (z <= 56)
    x[rows[in_table], 13 + z[in_table]] = 1.0
    x[np.asarray(flag_rows, dtype=np.int64), np.asarray(flag_cols, dtype=np.int64)] = 1.0
    x[:, 13] = np.asarray(n_h, dtype=np.float64)
    x[np.asarray(stem_rows, dtype=np.int64), 70] = 1.0  # an atom listed twice is still flagged 1
    mol_start = np.zeros(len(mols), dtype=np.int64)
    if len(mols) > 1:
        mol_start[1:] = np.cumsum(n_atoms[:-1])
    return GraphBatch(
        x=x,
        src=np.concatenate(src),
        dst=np.concatenate(dst),
        edge_type=np.concatenate(etype),
        mol_start=mol_start,
        n_atoms=n_atoms,
    )


def _leaky(x: FloatArray) -> FloatArray:
    out: FloatArray = np.maximum(x, LEAKY_SLOPE * x)  # valid because 0 < slope < 1
    return out


def _sigmoid(x: FloatArray) -> FloatArray:
    """Logistic function via exp (faster than np.tanh); exp overflow gives the right limit 0."""
    with np.errstate(over="ignore"):
        out = np.exp(-x)
    out += 1.0
    return np.reciprocal(out, out=out)


@dataclass(frozen=True)
class _MessagePlan:
    """Which (source atom, edge type) messages a batch needs, and where each atom gathers them.

    Only atoms that actually send an edge of type t get the product h_j @ W_t (~1.4 per atom on
    drug-like molecules instead of one per type present), which saves most of the edge matmul.
    """

    types: list[int]  # edge types present, ascending
    sources: list[IntArray]  # per type: the source atoms, ascending
    offsets: list[int]  # per type: first row of its messages in the message table
    n_rows: int  # rows in the message table (the zero padding row is row n_rows)
    nbr: IntArray  # (max in-degree, n_atoms) rows of the message table, padded with n_rows
    inv_deg: npt.NDArray[np.float64]  # (n_atoms, 1) 1 / in-degree, 0 for atoms without in-edges
    blocks: list[tuple[int, int, int]]  # row blocks (start, stop, max in-degree within the block)


def _message_plan(g: GraphBatch, block_rows: int) -> _MessagePlan:
    n = g.x.shape[0]
    key = g.edge_type * n + g.src
    uniq = np.unique(key)
    row = np.searchsorted(uniq, key)
    types: list[int] = []
    sources: list[IntArray] = []
    offsets: list[int] = []
    uniq_type = uniq // n
    for t in range(5):
        sel = np.nonzero(uniq_type == t)[0]
        if sel.size:
            types.append(t)
            sources.append(uniq[sel] - t * n)
            offsets.append(int(sel[0]))
    deg = np.bincount(g.dst, minlength=n)
    max_deg = max(int(deg.max()) if deg.size else 0, 1)
    first = np.zeros(n, dtype=np.int64)
    first[1:] = np.cumsum(deg)[:-1]
    slot = np.arange(g.dst.shape[0]) - first[g.dst]  # edges are sorted by destination
    n_rows = int(uniq.shape[0])
    nbr = np.full((max_deg, n), n_rows, dtype=np.int64)  # transposed: nbr[d, start:stop] is contiguous
    nbr[slot, g.dst] = row
    inv_deg = np.where(deg > 0, 1.0 / np.maximum(deg, 1), 0.0)[:, None]
    blocks = []
    for start in range(0, n, block_rows):
        stop = min(n, start + block_rows)
        blocks.append((start, stop, max(int(deg[start:stop].max()), 1)))
    return _MessagePlan(types, sources, offsets, n_rows, nbr, inv_deg, blocks)


class SEHProxy:
    """The sEH proxy as numpy arrays; call :meth:`score_mols` / :meth:`score_smiles`.

    ``dtype`` float32 (default) is fast and matches the float64 reference to ~1e-5; float64 is the
    verification path.
    """

    def __init__(self, weights: Mapping[str, np.ndarray], dtype: npt.DTypeLike = np.float32) -> None:
        missing = [k for k in _REQUIRED_KEYS if k not in weights]
        if missing:
            raise ValueError(f"sEH proxy weights lack {', '.join(missing)}")
        self.dtype = np.dtype(dtype)
        w = {k: np.asarray(weights[k], dtype=np.float64) for k in _REQUIRED_KEYS}
        dt = self.dtype
        self.lin0_w = w["lin0.weight"].T.astype(dt)  # (71, 64)
        self.lin0_b = w["lin0.bias"].astype(dt)
        # Edge network on the 5 possible bond feature vectors (4 one-hot + all-zero), computed once.
        feats = np.zeros((5, 4))
        feats[np.arange(4), np.arange(4)] = 1.0
        hidden = _leaky(feats @ w["conv.nn.0.weight"].T + w["conv.nn.0.bias"])
        mats = (hidden @ w["conv.nn.2.weight"].T + w["conv.nn.2.bias"]).reshape(5, HIDDEN, HIDDEN)
        self.edge_mats = mats.astype(dt)  # (5, in, out)
        # Signs and scales for the exp-based activations are folded into the weights:
        # sigmoid(a) = 1 / (1 + exp(-a)) for the r, z gates; tanh(a) = 2 / (1 + exp(-2a)) - 1 for n.
        # GRU weight rows: [0:64) r, [64:128) z, [128:192) n. The weights are stacked gate-major,
        # (gates, 64, 64), so that one batched matmul writes each gate as a contiguous (rows, 64)
        # array: elementwise passes over column slices of a wide array are several times slower,
        # and OpenBLAS runs these K=64 products at full speed only for 64 output columns (we
        # measured 11-17 GFLOP/s for 128-256 columns against 30 for 64 on this hardware).
        wih, whh = w["gru.weight_ih_l0"], w["gru.weight_hh_l0"]
        bih, bhh = w["gru.bias_ih_l0"], w["gru.bias_hh_l0"]
        r, z, n = slice(0, HIDDEN), slice(HIDDEN, 2 * HIDDEN), slice(2 * HIDDEN, 3 * HIDDEN)
        # h-side per step: [h @ root, -2 h @ W_hn, -h @ W_hr, -h @ W_hz]
        self.w_h = np.stack([w["conv.root"], -2.0 * whh[n].T, -whh[r].T, -whh[z].T]).astype(dt)
        self.b_root = w["conv.bias"].astype(dt)
        self.b_hn = (-2.0 * bhh[n]).astype(dt)
        # m-side per step: [-m @ W_ir, -m @ W_iz, -2 m @ W_in]
        self.w_m = np.stack([-wih[r].T, -wih[z].T, -2.0 * wih[n].T]).astype(dt)
        self.b_rz = np.stack([-(bih[r] + bhh[r]), -(bih[z] + bhh[z])])[:, None, :].astype(dt)  # (2, 1, 64)
        self.b_in = (-2.0 * bih[n]).astype(dt)
        self.lstm_wih = w["set2set.lstm.weight_ih_l0"].T.astype(dt)  # (128, 256)
        self.lstm_whh = w["set2set.lstm.weight_hh_l0"].T.astype(dt)  # (64, 256)
        self.lstm_b = (w["set2set.lstm.bias_ih_l0"] + w["set2set.lstm.bias_hh_l0"]).astype(dt)
        self.lin3_w = w["lin3.weight"].T.astype(dt)  # (128, 1)
        self.lin3_b = w["lin3.bias"].astype(dt)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], dtype: npt.DTypeLike = np.float32) -> SEHProxy:
        """Load ``seh_proxy.npz`` (plain arrays only: ``allow_pickle=False``)."""
        with np.load(Path(path), allow_pickle=False) as data:
            weights = {k: data[k] for k in data.files}
        return cls(weights, dtype=dtype)

    def forward(self, g: GraphBatch) -> npt.NDArray[np.float64]:
        """Scores of the molecules of ``g`` (float64 array of length ``g.n_mols``).

        Each of the 12 steps first computes every message from the current h (a full pass: the
        messages of a block depend on atoms outside it), then runs aggregation, convolution and GRU
        block by block of :data:`BLOCK_ROWS` atoms, so that the ~20 elementwise passes of a step
        work on contiguous, cache-resident arrays (they went from ~0.5 to ~0.2 ms of CPU per
        molecule against whole-batch passes over column slices). Updating h in place block by
        block is safe: a block reads only its own rows of h.
        """
        dt = self.dtype
        n = g.x.shape[0]
        plan = _message_plan(g, BLOCK_ROWS)
        inv_deg = plan.inv_deg.astype(dt)
        h = np.ascontiguousarray(_leaky(g.x.astype(dt) @ self.lin0_w + self.lin0_b))
        msg = np.empty((plan.n_rows + 1, HIDDEN), dtype=dt)  # last row: zero padding
        msg[-1] = 0.0
        src_h = [np.empty((len(j), HIDDEN), dtype=dt) for j in plan.sources]
        rows = min(n, BLOCK_ROWS)
        hw = np.empty((4, rows, HIDDEN), dtype=dt)  # h-side gates, see __init__
        mw = np.empty((3, rows, HIDDEN), dtype=dt)  # m-side gates
        agg_buf = np.empty((rows, HIDDEN), dtype=dt)
        tmp_buf = np.empty((rows, HIDDEN), dtype=dt)
        w_h, w_m, b_root, b_hn, b_rz, b_in = self.w_h, self.w_m, self.b_root, self.b_hn, self.b_rz, self.b_in
        with np.errstate(over="ignore"):
            for _ in range(N_CONV_STEPS):
                # messages h_j @ W(e_ji), one row per (source atom, edge type) pair
                for t, j, off, hj in zip(plan.types, plan.sources, plan.offsets, src_h, strict=True):
                    np.take(h, j, axis=0, out=hj)
                    np.matmul(hj, self.edge_mats[t], out=msg[off : off + len(j)])
                for start, stop, max_deg in plan.blocks:
                    k = stop - start
                    agg, tmp, hwb, mwb = agg_buf[:k], tmp_buf[:k], hw[:, :k], mw[:, :k]
                    hb = h[start:stop]
                    # conv: mean over in-edges of the messages, plus h_i @ root + bias, LeakyReLU
                    np.take(msg, plan.nbr[0, start:stop], axis=0, out=agg)
                    for d in range(1, max_deg):
                        np.take(msg, plan.nbr[d, start:stop], axis=0, out=tmp)
                        agg += tmp
                    agg *= inv_deg[start:stop]
                    np.matmul(hb, w_h, out=hwb)
                    agg += hwb[0]
                    agg += b_root
                    m = hwb[0]  # the root term is used up: reuse its buffer for m
                    np.multiply(agg, LEAKY_SLOPE, out=tmp)
                    np.maximum(agg, tmp, out=m)
                    # GRU, gate order r, z, n: h' = (1 - z) * n + z * h
                    np.matmul(m, w_m, out=mwb)
                    rz = mwb[:2]
                    rz += hwb[2:]
                    rz += b_rz
                    np.exp(rz, out=rz)
                    rz += 1.0
                    np.reciprocal(rz, out=rz)  # [r, z]
                    cand = hwb[1]
                    cand += b_hn
                    cand *= rz[0]
                    cand += mwb[2]
                    cand += b_in
                    np.exp(cand, out=cand)
                    cand += 1.0
                    np.divide(2.0, cand, out=cand)
                    cand -= 1.0  # n
                    hb -= cand
                    hb *= rz[1]
                    hb += cand
        return self._set2set(h, g).astype(np.float64)

    def _set2set(self, x: FloatArray, g: GraphBatch) -> FloatArray:
        dt = self.dtype
        b = g.n_mols
        batch = np.repeat(np.arange(b), g.n_atoms)
        q_star = np.zeros((b, 2 * HIDDEN), dtype=dt)
        hs = np.zeros((b, HIDDEN), dtype=dt)
        cs = np.zeros((b, HIDDEN), dtype=dt)
        for _ in range(N_SET2SET_STEPS):
            gates = q_star @ self.lstm_wih + hs @ self.lstm_whh + self.lstm_b  # PyTorch order i, f, g, o
            i = _sigmoid(gates[:, :HIDDEN])
            f = _sigmoid(gates[:, HIDDEN : 2 * HIDDEN])
            cell = np.tanh(gates[:, 2 * HIDDEN : 3 * HIDDEN])
            o = _sigmoid(gates[:, 3 * HIDDEN :])
            cs = f * cs + i * cell
            hs = o * np.tanh(cs)
            e = np.einsum("nd,nd->n", x, hs[batch])
            e_max = np.maximum.reduceat(e, g.mol_start)
            a = np.exp(e - e_max[batch])
            a = a / (np.add.reduceat(a, g.mol_start)[batch] + 1e-16)
            r = np.add.reduceat(a[:, None] * x, g.mol_start, axis=0)
            q_star = np.concatenate([hs, r], axis=1)
        out: FloatArray = (q_star @ self.lin3_w + self.lin3_b)[:, 0]
        return out

    def score_mols(
        self, mols: Sequence[Chem.Mol | None], stems: StemLists = None, batch_size: int = 256
    ) -> npt.NDArray[np.float64]:
        """Scores of RDKit molecules in their given atom order; NaN for ``None`` or atom-less ones."""
        out = np.full(len(mols), np.nan, dtype=np.float64)
        ok = [k for k, m in enumerate(mols) if m is not None and m.GetNumAtoms() > 0]
        for start in range(0, len(ok), batch_size):
            idx = ok[start : start + batch_size]
            chunk = [mols[k] for k in idx]
            chunk_stems = [stems[k] for k in idx] if stems is not None else None
            out[idx] = self.forward(featurize(chunk, chunk_stems))  # type: ignore[arg-type]
        return out

    def score_smiles(
        self, smiles: Sequence[str], stems: StemLists = None, batch_size: int = 256
    ) -> npt.NDArray[np.float64]:
        """Scores of SMILES parsed as given (atom order of the string); NaN where it does not parse."""
        from rdkit import Chem

        mols = [Chem.MolFromSmiles(s) if s else None for s in smiles]
        return self.score_mols(mols, stems, batch_size)


def resolve_weights_path(path: str | os.PathLike[str] | None, field: str = "params.weights") -> Path:
    """The weights file: ``path``, else ``$MOLGFN_SEH_PROXY_WEIGHTS``; a :class:`SpecError` if absent."""
    if path is None or str(path) == "":
        env = os.environ.get(WEIGHTS_ENV, "")
        if not env:
            raise SpecError(
                field,
                f"no sEH proxy weights: give params.weights or set {WEIGHTS_ENV} to the path of "
                "seh_proxy.npz (it is never downloaded)",
            )
        path = env
    p = Path(path).expanduser()
    if not p.is_file():
        raise SpecError(field, f"sEH proxy weights file not found: {p}")
    return p


@functools.lru_cache(maxsize=4)
def _load_cached(path: str, mtime_ns: int, dtype: str) -> SEHProxy:
    return SEHProxy.from_file(path, dtype=dtype)


def load_seh_proxy(
    path: str | os.PathLike[str] | None = None,
    dtype: npt.DTypeLike = np.float32,
    field: str = "params.weights",
) -> SEHProxy:
    """Load (once per file and dtype) the proxy from ``path`` or ``$MOLGFN_SEH_PROXY_WEIGHTS``.

    A missing file raises :class:`SpecError` naming ``field``; a corrupt one too.
    """
    p = resolve_weights_path(path, field)
    try:
        return _load_cached(str(p.resolve()), p.stat().st_mtime_ns, np.dtype(dtype).name)
    except (OSError, ValueError, KeyError) as exc:
        if isinstance(exc, SpecError):
            raise
        raise SpecError(field, f"cannot read sEH proxy weights {p}: {exc}") from exc
