"""User-trained proxy models: an MPNN regressor on atom graphs, trained from a CSV of SMILES/values.

``train_proxy`` reads the CSV (salts reduced to their largest fragment, empty values dropped,
repeated molecules averaged), splits the distinct molecules at random into train / validation /
test, trains with early model selection on validation RMSE, and reports held-out (test) RMSE and
Spearman correlation. The model directory holds ``model.pt`` — ``torch.save`` of a plain state dict
of tensors, loaded with ``torch.load(weights_only=True)`` — and ``metadata.json`` (architecture,
target statistics, metrics, data provenance). Nothing is pickled.

This is the only module of ``gfn.rewards`` that imports torch; the API process never imports it.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from rdkit import Chem, rdBase
from torch import nn

from gfn.errors import GfnError, SpecError

logger = logging.getLogger(__name__)

FORMAT = "molgfn-proxy"
FORMAT_VERSION = 1
FEATURIZER = "molgfn-atom-v1"
WEIGHTS_FILE = "model.pt"
METADATA_FILE = "metadata.json"

# ------------------------------------------------------------------------------------------------
# Featurization (atom graphs)
# ------------------------------------------------------------------------------------------------

_ELEMENTS = (6, 7, 8, 9, 15, 16, 17, 35, 53, 5, 14, 34)  # C N O F P S Cl Br I B Si Se, + other
_HYBRID = ("SP", "SP2", "SP3")
N_ATOM_FEATURES = len(_ELEMENTS) + 1 + 6 + 3 + 5 + 2 + len(_HYBRID) + 1
N_BOND_TYPES = 5  # single, double, triple, aromatic, other


def _atom_features(atom: Chem.Atom) -> list[float]:
    f = [0.0] * N_ATOM_FEATURES
    z = atom.GetAtomicNum()
    f[_ELEMENTS.index(z) if z in _ELEMENTS else len(_ELEMENTS)] = 1.0
    o = len(_ELEMENTS) + 1
    f[o + min(atom.GetDegree(), 5)] = 1.0
    o += 6
    f[o + max(-1, min(atom.GetFormalCharge(), 1)) + 1] = 1.0
    o += 3
    f[o + min(atom.GetTotalNumHs(), 4)] = 1.0
    o += 5
    f[o] = float(atom.GetIsAromatic())
    f[o + 1] = float(atom.IsInRing())
    o += 2
    hyb = str(atom.GetHybridization())
    f[o + (_HYBRID.index(hyb) if hyb in _HYBRID else len(_HYBRID))] = 1.0
    return f


_BOND_INDEX = {"SINGLE": 0, "DOUBLE": 1, "TRIPLE": 2, "AROMATIC": 3}


@dataclass
class Graph:
    """One molecule: atom features (n, F), directed edges (2, E) and their bond types (E,)."""

    x: npt.NDArray[np.float32]
    edge_index: npt.NDArray[np.int64]
    edge_type: npt.NDArray[np.int64]


def mol_to_graph(mol: Chem.Mol) -> Graph:
    """Atom graph of ``mol`` (both directions of each bond)."""
    x = np.array([_atom_features(a) for a in mol.GetAtoms()], dtype=np.float32).reshape(-1, N_ATOM_FEATURES)
    src: list[int] = []
    dst: list[int] = []
    types: list[int] = []
    for b in mol.GetBonds():
        i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
        t = _BOND_INDEX.get(str(b.GetBondType()), 4)
        src += (i, j)
        dst += (j, i)
        types += (t, t)
    return Graph(x, np.array([src, dst], dtype=np.int64).reshape(2, -1), np.array(types, dtype=np.int64))


@dataclass
class Batch:
    """Several graphs as one disjoint graph, as tensors."""

    x: torch.Tensor
    edge_index: torch.Tensor
    edge_type: torch.Tensor
    batch: torch.Tensor
    n_graphs: int


def collate(graphs: Sequence[Graph]) -> Batch:
    sizes = np.array([g.x.shape[0] for g in graphs], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    edge_index = np.concatenate([g.edge_index + o for g, o in zip(graphs, offsets, strict=True)], axis=1)
    return Batch(
        x=torch.from_numpy(np.concatenate([g.x for g in graphs], axis=0)),
        edge_index=torch.from_numpy(edge_index),
        edge_type=torch.from_numpy(np.concatenate([g.edge_type for g in graphs])),
        batch=torch.from_numpy(np.repeat(np.arange(len(graphs)), sizes)),
        n_graphs=len(graphs),
    )


# ------------------------------------------------------------------------------------------------
# Model
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProxyConfig:
    """Architecture and training hyperparameters (stored in metadata.json)."""

    hidden: int = 128
    steps: int = 4
    dropout: float = 0.1
    epochs: int = 40
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-5
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    seed: int = 0


class ProxyMPNN(nn.Module):
    """GINE-style message passing (bond-type-conditioned messages, residual MLP updates) with a
    mean + max readout and an MLP head predicting one standardized value."""

    def __init__(self, hidden: int = 128, steps: int = 4, dropout: float = 0.1) -> None:
        super().__init__()
        self.embed = nn.Linear(N_ATOM_FEATURES, hidden)
        self.bond = nn.Embedding(N_BOND_TYPES, hidden)
        self.updates = nn.ModuleList(
            nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden)) for _ in range(steps)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(steps))
        self.head = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.SiLU(), nn.Dropout(dropout), nn.Linear(hidden, 1))

    def forward(self, b: Batch) -> torch.Tensor:
        h = self.embed(b.x)
        src, dst = b.edge_index[0], b.edge_index[1]
        e = self.bond(b.edge_type)
        for update, norm in zip(self.updates, self.norms, strict=True):
            msg = torch.relu(h[src] + e)
            agg = torch.zeros_like(h).index_add_(0, dst, msg)
            h = norm(h + update(h + agg))
        dim = h.shape[1]
        counts = torch.bincount(b.batch, minlength=b.n_graphs).clamp(min=1).unsqueeze(1).to(h.dtype)
        mean = torch.zeros(b.n_graphs, dim, dtype=h.dtype).index_add_(0, b.batch, h) / counts
        mx = torch.full((b.n_graphs, dim), -torch.inf, dtype=h.dtype)
        mx = mx.scatter_reduce(0, b.batch.unsqueeze(1).expand(-1, dim), h, reduce="amax")
        out: torch.Tensor = self.head(torch.cat([mean, mx], dim=1)).squeeze(1)
        return out


# ------------------------------------------------------------------------------------------------
# Data
# ------------------------------------------------------------------------------------------------


def largest_fragment(mol: Chem.Mol) -> Chem.Mol:
    """The fragment with the most heavy atoms (salts and solvents dropped)."""
    frags = Chem.GetMolFrags(mol, asMols=True, sanitizeFrags=False)
    if len(frags) == 1:
        return mol
    best: Chem.Mol = max(frags, key=lambda m: (m.GetNumHeavyAtoms(), m.GetNumAtoms()))
    return best


@dataclass
class Dataset:
    """Distinct molecules (canonical SMILES of the largest fragment) with their mean value."""

    smiles: list[str]
    values: npt.NDArray[np.float64]
    n_rows: int
    n_dropped_empty: int
    n_dropped_invalid: int


def read_csv(path: str | Path, smiles_col: str, value_col: str, sep: str = ",") -> Dataset:
    """Read SMILES/value rows; raise :class:`GfnError` for a missing file or column."""
    p = Path(path)
    if not p.is_file():
        raise GfnError("csv", f"no such file: {p}")
    groups: dict[str, list[float]] = {}
    n_rows = n_empty = n_invalid = 0
    with p.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh, delimiter=sep)
        columns = reader.fieldnames or []
        for col, flag in ((smiles_col, "smiles_col"), (value_col, "value_col")):
            if col not in columns:
                shown = ", ".join(columns[:12]) + (", ..." if len(columns) > 12 else "")
                raise GfnError(flag, f"column {col!r} not in {p.name} (columns: {shown}; separator {sep!r})")
        with rdBase.BlockLogs():
            for row in reader:
                n_rows += 1
                text = (row.get(value_col) or "").strip()
                smi = (row.get(smiles_col) or "").strip()
                if not text or not smi:
                    n_empty += 1
                    continue
                try:
                    value = float(text)
                except ValueError:
                    n_invalid += 1
                    continue
                mol = Chem.MolFromSmiles(smi)
                if mol is None or not math.isfinite(value):
                    n_invalid += 1
                    continue
                groups.setdefault(Chem.MolToSmiles(largest_fragment(mol)), []).append(value)
    smiles = sorted(groups)
    values = np.array([float(np.mean(groups[s])) for s in smiles], dtype=np.float64)
    return Dataset(smiles, values, n_rows, n_empty, n_invalid)


# ------------------------------------------------------------------------------------------------
# Metrics
# ------------------------------------------------------------------------------------------------


def _ranks(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Ranks 1..n with ties averaged."""
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=np.float64)
    sorted_x = x[order]
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and sorted_x[j + 1] == sorted_x[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


def spearman(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Spearman rank correlation (Pearson correlation of tie-averaged ranks)."""
    ra = _ranks(np.asarray(a, dtype=np.float64))
    rb = _ranks(np.asarray(b, dtype=np.float64))
    if len(ra) < 2 or ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def rmse(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return float(np.sqrt(np.mean(diff**2)))


# ------------------------------------------------------------------------------------------------
# Training
# ------------------------------------------------------------------------------------------------


@dataclass
class TrainResult:
    """Where the model went and how well it does on the held-out molecules."""

    out_dir: Path
    metrics: dict[str, float]
    n_train: int
    n_val: int
    n_test: int
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)


def _predict(model: ProxyMPNN, graphs: Sequence[Graph], batch_size: int = 256) -> npt.NDArray[np.float64]:
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(graphs), batch_size):
            out.append(model(collate(graphs[i : i + batch_size])).double().numpy())
    return np.concatenate(out) if out else np.zeros(0)


def train_proxy(
    data: Dataset,
    out_dir: str | Path,
    config: ProxyConfig | None = None,
    source: dict[str, Any] | None = None,
    progress: Callable[[dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train an MPNN on ``data``, save it to ``out_dir``, return held-out metrics.

    ``progress`` (optional) receives ``{"epoch", "train_loss", "val_rmse"}`` after every epoch.
    """
    cfg = config or ProxyConfig()
    n = len(data.smiles)
    if n < 10:
        raise GfnError("csv", f"only {n} usable molecules; need at least 10 to train and validate")
    start = time.perf_counter()
    gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    perm = torch.randperm(n, generator=gen).numpy()
    n_test = max(1, int(round(cfg.test_fraction * n)))
    n_val = max(1, int(round(cfg.val_fraction * n)))
    test_idx, val_idx, train_idx = perm[:n_test], perm[n_test : n_test + n_val], perm[n_test + n_val :]
    graphs = [mol_to_graph(Chem.MolFromSmiles(s)) for s in data.smiles]
    y = data.values
    mean, std = float(y[train_idx].mean()), float(y[train_idx].std() or 1.0)
    y_std = torch.tensor((y - mean) / std, dtype=torch.float32)
    model = ProxyMPNN(cfg.hidden, cfg.steps, cfg.dropout)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(cfg.epochs, 1))
    best: dict[str, torch.Tensor] | None = None
    best_val = math.inf
    history: list[dict[str, float]] = []
    val_graphs = [graphs[i] for i in val_idx]
    for epoch in range(cfg.epochs):
        model.train()
        order = train_idx[torch.randperm(len(train_idx), generator=gen).numpy()]
        losses = []
        for i in range(0, len(order), cfg.batch_size):
            idx = order[i : i + cfg.batch_size]
            if len(idx) < 2:
                continue
            pred = model(collate([graphs[k] for k in idx]))
            loss = nn.functional.mse_loss(pred, y_std[idx])
            opt.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            losses.append(loss.item())
        sched.step()
        val_rmse = rmse(_predict(model, val_graphs) * std + mean, y[val_idx])
        record = {"epoch": float(epoch + 1), "train_loss": float(np.mean(losses)), "val_rmse": val_rmse}
        history.append(record)
        if progress is not None:
            progress(record)
        if val_rmse < best_val:
            best_val = val_rmse
            best = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if best is not None:
        model.load_state_dict(best)
    test_pred = _predict(model, [graphs[i] for i in test_idx]) * std + mean
    val_pred = _predict(model, val_graphs) * std + mean
    metrics = {
        "test_rmse": rmse(test_pred, y[test_idx]),
        "test_spearman": spearman(test_pred, y[test_idx]),
        "val_rmse": rmse(val_pred, y[val_idx]),
        "val_spearman": spearman(val_pred, y[val_idx]),
        "test_baseline_rmse": rmse(np.full(len(test_idx), mean), y[test_idx]),
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out / WEIGHTS_FILE)
    seconds = time.perf_counter() - start
    metadata = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "featurizer": FEATURIZER,
        "architecture": {"hidden": cfg.hidden, "steps": cfg.steps, "dropout": cfg.dropout},
        "training": asdict(cfg),
        "target": {
            "mean": mean,
            "std": std,
            "min": float(y[train_idx].min()),
            "max": float(y[train_idx].max()),
        },
        "metrics": metrics,
        "split": {"train": len(train_idx), "val": len(val_idx), "test": len(test_idx), "method": "random"},
        "data": {
            **(source or {}),
            "rows": data.n_rows,
            "dropped_empty": data.n_dropped_empty,
            "dropped_invalid": data.n_dropped_invalid,
            "molecules": n,
        },
        "seconds": seconds,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (out / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n")
    return TrainResult(out, metrics, len(train_idx), len(val_idx), len(test_idx), seconds, history)


# ------------------------------------------------------------------------------------------------
# Loading and prediction
# ------------------------------------------------------------------------------------------------


class ProxyModel:
    """A trained proxy: ``predict_mols`` gives values in the target's units."""

    def __init__(self, model: ProxyMPNN, metadata: dict[str, Any]) -> None:
        self.model = model.eval()
        self.metadata = metadata
        target = metadata["target"]
        self.mean = float(target["mean"])
        self.std = float(target["std"])
        self.low = float(target["min"])
        self.high = float(target["max"])

    def predict_mols(self, mols: Sequence[Chem.Mol]) -> npt.NDArray[np.float64]:
        if not mols:
            return np.zeros(0)
        return _predict(self.model, [mol_to_graph(m) for m in mols]) * self.std + self.mean

    def predict_smiles(self, smiles: Sequence[str]) -> npt.NDArray[np.float64]:
        """Predictions; NaN where a SMILES does not parse."""
        with rdBase.BlockLogs():
            mols = [Chem.MolFromSmiles(s) for s in smiles]
        ok = [i for i, m in enumerate(mols) if m is not None and m.GetNumAtoms() > 0]
        out = np.full(len(smiles), np.nan)
        out[ok] = self.predict_mols([mols[i] for i in ok])
        return out

    def normalize(self, values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Map to [0, 1] with the training targets' min and max (clipped)."""
        span = self.high - self.low if self.high > self.low else 1.0
        out: npt.NDArray[np.float64] = np.clip((values - self.low) / span, 0.0, 1.0)
        return out


def load_proxy_model(path: str | Path, field: str = "params.model") -> ProxyModel:
    """Load a model directory written by :func:`train_proxy`; problems raise :class:`SpecError`."""
    d = Path(path).expanduser()
    meta_path, weights_path = d / METADATA_FILE, d / WEIGHTS_FILE
    if not meta_path.is_file() or not weights_path.is_file():
        raise SpecError(field, f"not a proxy model directory (needs {METADATA_FILE} and {WEIGHTS_FILE}): {d}")
    try:
        metadata = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise SpecError(field, f"unreadable {meta_path}: {exc}") from None
    if metadata.get("format") != FORMAT or metadata.get("featurizer") != FEATURIZER:
        raise SpecError(field, f"{meta_path} is not a {FORMAT} model with featurizer {FEATURIZER}")
    arch = metadata.get("architecture", {})
    model = ProxyMPNN(int(arch.get("hidden", 128)), int(arch.get("steps", 4)), float(arch.get("dropout", 0.0)))
    try:
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as exc:  # noqa: BLE001 - any corrupt or mismatched file is a user error here
        raise SpecError(field, f"cannot load {weights_path}: {exc}") from None
    return ProxyModel(model, metadata)
