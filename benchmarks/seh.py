"""The reference sEH task of Bengio et al. 2021: top-k, modes and scaffolds against molecules visited.

    python -m benchmarks.seh [--loss tb|fm|db|subtb] [--trajectories N] [--minutes M] [--quick]
                             [--out PATH] [--batch-size B] [--seed S] [--threads T] [--device D]
                             [--plot]

Task: the paper's 105-block library (``../shared/data/blocks_PDB_105.json``), 1 to 8 blocks with
stopping allowed from 2 blocks (the paper's ``min_blocks``), the pretrained sEH proxy
(``../shared/data/seh_proxy.npz``) and the paper's reward ``R = (max(score, 0.1) / 8) ** 10``,
written as a RewardSpec: ``seh_proxy`` with a ``linear`` transform (low 0, high 8, unclipped),
``min_reward`` 0.0125 and ``beta`` 10. Training is the project's plain ``train()`` with the
settings of ``LOSS_CONFIG`` (Adam; FM, DB and SubTB the paper's lr 5e-4 and 5 % uniform exploration,
FM leaf coefficient 10 with the paper's balanced weighting and ε 2.5e-5; TB hidden 256, lr 5e-4,
log Z lr 5e-2, half of each batch replayed from the best trajectories, 1 % exploration, the
training samples drawn at temperature 0.7 and two optimiser updates per sampled batch, the best of the
settings measured in BENCHMARKS.md; TB is off-policy, so the learned policy still targets R at
temperature 1). ``--override`` replaces any of them.
Batch: 16 trajectories per step by default (the paper used 4; on 2 CPU cores a batch of 16 runs
more trajectories per second; ``--batch-size 4`` for the paper's, as the FM run in BENCHMARKS.md).

Every molecule visited — the terminal molecule of every sampled on-policy trajectory (replayed ones
are not counted) — is recorded with its raw proxy score (``smiles -> score``; repeats counted in
``molecules``, once in ``unique``). Curve points at 100, 200, 300, 500, 700, 1k, 2k, … molecules
and at the end: ``{"loss", "molecules", "seconds", "top10", "top100", "top1000", "modes_7",
"scaffolds_8", "top1000_mean_similarity", "unique"}`` plus a few diagnostics. top-k: mean proxy
score of the k best distinct molecules so far; ``modes_7``: molecules with score > 7, taken greedily
by score, each at Tanimoto < 0.7 (Morgan r=2, 2048 bits) to every earlier mode; ``scaffolds_8``:
distinct Bemis–Murcko scaffolds of molecules with score > 8. The paper's similarity figures are on
the scale of RDKit's topological fingerprint (an untrained policy gives 0.23 with it, the paper's
'random', and 0.08 with Morgan), so each point also has ``modes_7_rdkit`` and
``top1000_mean_similarity_rdkit`` computed with ``Chem.RDKFingerprint``. ``seconds`` is training time
(sampling, scoring, loss, update): metric computation is timed separately and excluded.

Ctrl-C (SIGINT) or SIGTERM stops training after the current step; the run still measures its end
point and writes its results (``stopped_by_signal`` in the meta file); a second signal exits at once
and writes nothing.

Output: ``benchmarks/results/seh_<loss>.json`` (``seh_<loss>_quick.json`` with ``--quick``), a list
of curve points; beside it ``….meta.json`` with the settings, the machine and a per-phase profile of
training steps at the end of the run; and the plots ``benchmarks/results/seh.png`` (and
``seh_variants.png``, see :func:`plot`) from every
``seh_<loss>.json`` in the results folder, with the paper's published figures as markers.
"""

from __future__ import annotations

import os

# numpy's OpenBLAS (the sEH proxy) would otherwise start one thread per core and fight torch and
# the other processes for 2 cores; takes effect only if numpy is not loaded yet (python -m ...).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import heapq  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import textwrap  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import torch  # noqa: E402
from rdkit import Chem, DataStructs  # noqa: E402
from rdkit.Chem.Scaffolds import MurckoScaffold  # noqa: E402

from benchmarks._common import RESULTS, machine, peak_rss_mb, shared_data, write_json  # noqa: E402
from gfn.build import build_loss, build_mdp, build_model, build_reward, resolve_device  # noqa: E402
from gfn.chem.blocks import load_library  # noqa: E402
from gfn.errors import ConfigError  # noqa: E402
from gfn.featurize import Featurizer  # noqa: E402
from gfn.metrics import fingerprints  # noqa: E402
from gfn.sampling.sampler import Sampler  # noqa: E402
from gfn.training.config import TrainingConfig, parse_training_config  # noqa: E402
from gfn.training.loop import StepReport, make_optimizer, score_trajectories, search_locally, train  # noqa: E402
from gfn.training.objectives import compute_loss  # noqa: E402

LOSSES = ("tb", "fm", "db", "subtb")
FIELDS = (
    "loss",
    "molecules",
    "seconds",
    "top10",
    "top100",
    "top1000",
    "modes_7",
    "scaffolds_8",
    "top1000_mean_similarity",
    "unique",
)

#: Bengio et al. 2021 (arXiv 2106.04399, App. A.7), mean of 3 runs: top-k mean proxy score.
PAPER_TOPK: dict[str, dict[int, tuple[float, float, float]]] = {
    "GFlowNet": {100_000: (8.36, 8.21, 7.98), 1_000_000: (8.45, 8.34, 8.17)},
    "MARS": {100_000: (8.05, 7.71, 7.13), 1_000_000: (8.31, 8.03, 7.64)},
    "PPO": {100_000: (8.06, 7.87, 7.52), 1_000_000: (8.25, 8.08, 7.82)},
}
#: read from the paper's figure at 10^6 molecules (lower bounds for GFlowNet, upper for MARS)
PAPER_MODES_7 = {"GFlowNet": 500, "MARS": 100}
PAPER_SCAFFOLDS_8 = {"GFlowNet": 1500, "MARS": 100}
PAPER_TOP1000_SIMILARITY = {"GFlowNet": 0.44, "MARS": 0.59, "PPO": 0.62, "random": 0.23}


def paper_reward_spec(weights: Path) -> dict[str, Any]:
    """R = (max(score, 0.1) / 8) ** 10 as a RewardSpec (score / 8 floored at 0.0125, to the 10th)."""
    return {
        "components": [
            {
                "name": "seh_proxy",
                "params": {"weights": str(weights)},
                "transform": {"type": "linear", "low": 0, "high": 8, "clip": False},
            }
        ],
        "min_reward": 0.0125,
        "beta": 10,
    }


#: per-loss training settings (the paper's where it has one; TB needs a larger log Z rate)
LOSS_CONFIG: dict[str, dict[str, Any]] = {
    # the best TB setting measured (BENCHMARKS.md, sessions 3-12): hidden 256, half of each batch replayed
    # from the 1,000 best trajectories, 1 % uniform exploration, training samples drawn at temperature 0.7
    # (session 11; 0.8 in sessions 9-10, 1.0 before), two optimiser updates per sampled batch (session 12,
    # the paper's 25,000 updates by 10^5 molecules; one before, at about 0.6x the time). Before session 8
    # the defaults were the session-2 H100 sweep's: hidden 128, lr 1e-3, replay 0.25, exploration 0.05.
    "tb": {
        "hidden": 256,
        "lr": 5e-4,
        "lr_logz": 5e-2,
        "replay_fraction": 0.5,
        "exploration": 0.01,
        "temperature": 0.7,
        "updates_per_batch": 2,
    },
    # fm_balanced: the paper's code weights the terminal states' mean 10x against the others' mean; at
    # 20k molecules (batch 4) it gave top-100 7.02 and 40 modes against 6.85 and 24 with one mean
    "fm": {"lr": 5e-4, "fm_leaf_coef": 10.0, "fm_epsilon": 2.5e-5, "fm_balanced": True},
    "db": {"lr": 5e-4},
    "subtb": {"lr": 5e-4, "lr_logz": 5e-2, "subtb_lambda": 0.9},
}


def curve_schedule(limit: int = 10**8) -> list[int]:
    """100, 200, 300, 500, 700, 1000, 2000, … (a 1-2-3-5-7 series)."""
    out, base = [], 100
    while base <= limit:
        out += [m * base for m in (1, 2, 3, 5, 7)]
        base *= 10
    return out


# ---------------------------------------------------------------------------------------- metrics
@dataclass
class Visited:
    """Every molecule visited: ``smiles -> proxy score``, with cheap incremental bookkeeping.

    Fingerprints are computed once per molecule above the mode threshold (or in a top 1,000), and
    scaffolds once per molecule above 8; top-k, modes and similarity are computed only at curve
    points.
    """

    molecules: int = 0  # terminal molecules visited, repeats included
    invalid: int = 0  # trajectories whose block graph RDKit could not sanitise, or unscored
    score: dict[str, float] = field(default_factory=dict)
    visits: dict[str, list[int]] = field(default_factory=dict)  # smiles -> [visits, first visit number]
    above_7: list[tuple[float, str]] = field(default_factory=list)
    scaffolds_8: set[str] = field(default_factory=set)
    _fp: dict[str, Any] = field(default_factory=dict)
    _fp_rdkit: dict[str, Any] = field(default_factory=dict)

    def add(self, smiles: str | None, score: float | None) -> None:
        self.molecules += 1
        if smiles is None or score is None or not math.isfinite(score):
            self.invalid += 1
            return
        seen = self.visits.get(smiles)
        if seen is not None:
            seen[0] += 1
            return
        self.visits[smiles] = [1, self.molecules]
        self.score[smiles] = score
        if score > 7.0:
            self.above_7.append((score, smiles))
        if score > 8.0:
            self.scaffolds_8.add(MurckoScaffold.MurckoScaffoldSmiles(smiles))  # type: ignore[no-untyped-call]

    def fp(self, smiles: str, kind: str = "morgan") -> Any:
        """Morgan r=2 / 2048 bits (``gfn.metrics``), or RDKit's topological fingerprint (``rdkit``)."""
        cache = self._fp if kind == "morgan" else self._fp_rdkit
        f = cache.get(smiles)
        if f is None:
            f = cache[smiles] = (
                fingerprints([smiles])[0] if kind == "morgan" else Chem.RDKFingerprint(Chem.MolFromSmiles(smiles))
            )
        return f

    def modes(self, threshold: float = 7.0, max_similarity: float = 0.7, kind: str = "morgan") -> int:
        """As :func:`gfn.metrics.count_modes`, with cached fingerprints."""
        modes: list[Any] = []
        for score, smi in sorted(self.above_7, reverse=True):
            if score <= threshold:
                continue
            fp = self.fp(smi, kind)
            if not modes or max(DataStructs.BulkTanimotoSimilarity(fp, modes)) < max_similarity:
                modes.append(fp)
        return len(modes)

    def mean_similarity(self, smiles: list[str], kind: str = "morgan") -> float:
        """As :func:`gfn.metrics.mean_pairwise_similarity`, with cached fingerprints."""
        fps = [self.fp(s, kind) for s in smiles]
        if len(fps) < 2:
            return float("nan")
        total = sum(sum(DataStructs.BulkTanimotoSimilarity(fps[i], fps[:i])) for i in range(1, len(fps)))
        return total / (len(fps) * (len(fps) - 1) / 2)

    def point(self) -> dict[str, Any]:
        best = heapq.nlargest(1000, self.score.items(), key=lambda kv: kv[1])
        scores = [v for _, v in best]

        def top(k: int) -> float | None:
            return round(sum(scores[:k]) / len(scores[:k]), 4) if scores else None

        def sim(kind: str) -> float | None:
            v = self.mean_similarity([s for s, _ in best], kind)
            return None if math.isnan(v) else round(v, 4)

        return {
            "top10": top(10),
            "top100": top(100),
            "top1000": top(1000),
            "modes_7": self.modes(),
            "scaffolds_8": len(self.scaffolds_8),
            "top1000_mean_similarity": sim("morgan"),
            "unique": len(self.score),
            # the same with RDKit's topological fingerprint, the scale of the paper's figures (its
            # 'random' 0.23 is what RDKFingerprint gives an untrained policy; Morgan gives 0.08)
            "modes_7_rdkit": self.modes(kind="rdkit"),
            "top1000_mean_similarity_rdkit": sim("rdkit"),
        }


# ---------------------------------------------------------------------------------------- running
@dataclass
class SehRun:
    points: list[dict[str, Any]]
    meta: dict[str, Any]
    visited: Visited

    def write_molecules(self, path: Path) -> None:
        """Every distinct molecule visited: smiles, proxy score, visits, number of its first visit."""
        import csv

        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["smiles", "score", "visits", "first_visit"])
            for smi, score in self.visited.score.items():
                n, first = self.visited.visits[smi]
                w.writerow([smi, f"{score:.4f}", n, first])
        print(f"wrote {path}")


def training_config(loss: str, batch_size: int, seed: int, **overrides: Any) -> TrainingConfig:
    return parse_training_config(
        {
            "loss": loss,
            "steps": 10_000_000,
            "batch_size": batch_size,
            "max_blocks": 8,
            "min_blocks": 2,
            "seed": seed,
            "exploration": 0.05,
            "device": "cpu",
            **LOSS_CONFIG[loss],
            **overrides,
        }
    )


def run_seh(
    data: Path,
    loss: str = "tb",
    *,
    batch_size: int = 16,
    max_molecules: int | None = None,
    max_seconds: float | None = None,
    seed: int = 0,
    profile_steps: int = 5,
    overrides: dict[str, Any] | None = None,
    stop: threading.Event | None = None,
    log: Callable[[str], None] = print,
) -> SehRun:
    """Train ``loss`` on the reference task until ``max_molecules`` visited or ``max_seconds`` of
    training, or once ``stop`` is set (``main`` sets it on SIGINT/SIGTERM); return the curve points and
    the run's metadata (settings, throughput, profile)."""
    if max_molecules is None and max_seconds is None:
        raise ValueError("give max_molecules, max_seconds or both")
    stop = stop or threading.Event()
    t_setup = time.perf_counter()
    lib = load_library(data / "blocks_PDB_105.json")
    cfg = training_config(loss, batch_size, seed, **(overrides or {}))
    spec = paper_reward_spec(data / "seh_proxy.npz")
    reward_fn = build_reward(spec)
    mdp = build_mdp(lib, cfg)
    featurizer = Featurizer(mdp)
    device = resolve_device(cfg.device)  # a clear ConfigError when CUDA is asked for and absent
    model = build_model(featurizer, cfg, device)
    optimizer = make_optimizer(model, cfg)
    gen = torch.Generator()
    gen.manual_seed(cfg.seed)
    setup_s = time.perf_counter() - t_setup

    visited = Visited()
    points: list[dict[str, Any]] = []
    schedule = curve_schedule()
    next_i = 0
    steps = 0
    metric_s = 0.0
    recent: list[tuple[float, int]] = []  # (score, blocks) of the last molecules, for diagnostics
    t0 = time.perf_counter()
    train_s = 0.0

    def add_point() -> None:
        nonlocal metric_s
        tm = time.perf_counter()
        p = {"loss": loss, "molecules": visited.molecules, "seconds": round(train_s, 2), **visited.point()}
        window = recent[-2000:]
        p.update(
            {
                "steps": steps,
                "batch_size": batch_size,
                "trajectories_per_s": round(visited.molecules / train_s, 2) if train_s > 0 else None,
                "recent_mean_score": round(sum(s for s, _ in window) / len(window), 3) if window else None,
                "recent_mean_blocks": round(sum(b for _, b in window) / len(window), 2) if window else None,
                "invalid": visited.invalid,
            }
        )
        metric_s += time.perf_counter() - tm
        points.append(p)
        log(
            f"  {loss:>5} {p['molecules']:>8} mol {p['seconds']:>8.1f}s {p['trajectories_per_s'] or 0:>6.1f}/s  "
            f"top10 {p['top10']}  top100 {p['top100']}  top1000 {p['top1000']}  modes_7 {p['modes_7']}  "
            f"scaf_8 {p['scaffolds_8']}  sim {p['top1000_mean_similarity']}  "
            f"recent score {p['recent_mean_score']} blocks {p['recent_mean_blocks']}"
        )

    def on_step(r: StepReport) -> None:
        nonlocal next_i, steps, train_s
        steps = r.step
        for t in r.trajectories:
            score = t.components.get("seh_proxy") if t.smiles is not None else None
            visited.add(t.smiles, score)
            recent.append((score if score is not None else 0.0, len(t.states) - 1))
        del recent[:-4000]
        train_s = time.perf_counter() - t0 - metric_s
        while next_i < len(schedule) and visited.molecules >= schedule[next_i]:
            next_i += 1
            if not points or points[-1]["molecules"] != visited.molecules:
                add_point()

    def should_stop() -> bool:
        return (
            stop.is_set()
            or (max_molecules is not None and visited.molecules >= max_molecules)
            or (max_seconds is not None and time.perf_counter() - t0 - metric_s >= max_seconds)
        )

    train(
        mdp,
        featurizer,
        model,
        reward_fn,
        build_loss(cfg),
        cfg,
        generator=gen,
        device=device,
        optimizer=optimizer,
        on_step=on_step,
        should_stop=should_stop,
    )
    if not points or points[-1]["molecules"] != visited.molecules:
        add_point()
    profile = (
        profile_phases(cfg, mdp, featurizer, model, optimizer, reward_fn, gen, profile_steps) if profile_steps else None
    )
    meta = {
        "task": "sEH proxy, blocks_PDB_105, R = (max(score, 0.1) / 8) ** 10",
        "loss": loss,
        "library": lib.name,
        "n_block_types": lib.n_block_types,
        "training": cfg.model_dump(mode="json"),
        "reward": spec,
        "molecules": visited.molecules,
        "unique": len(visited.score),
        "invalid": visited.invalid,
        "steps": steps,
        "stopped_by_signal": stop.is_set(),
        "train_seconds": round(train_s, 1),
        "metric_seconds": round(metric_s, 1),
        "setup_seconds": round(setup_s, 1),
        "trajectories_per_s": round(visited.molecules / train_s, 2) if train_s > 0 else None,
        "reward_cache": reward_fn.cache_info(),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "profile": profile,
        "machine": {**machine(), "load_avg_1m": round(os.getloadavg()[0], 2)},
    }
    return SehRun(points, meta, visited)


def profile_phases(
    cfg: TrainingConfig,
    mdp: Any,
    featurizer: Featurizer,
    model: Any,
    optimizer: Any,
    reward_fn: Any,
    gen: torch.Generator,
    n_steps: int,
) -> dict[str, Any]:
    """Time ``n_steps`` further training steps (the trained policy), phase by phase, as ``train()``
    does them: sample, score (proxy), local search (when on), then per update (``updates_per_batch``)
    loss forward (featurize + model), backward, optimiser step."""
    device = torch.device(cfg.device)
    sampler = Sampler(mdp, featurizer, model, device)
    settings = build_loss(cfg)
    phases = {"sample": 0.0, "score": 0.0, "local_search": 0.0, "loss_forward": 0.0, "backward": 0.0, "optimizer": 0.0}
    n_traj = n_states = 0
    for _ in range(n_steps):
        t = [time.perf_counter()]
        trajs = sampler.sample(cfg.batch_size, gen, cfg.exploration, cfg.temperature)
        t.append(time.perf_counter())
        score_trajectories(trajs, reward_fn)
        t.append(time.perf_counter())
        if cfg.local_search_rounds:  # rebuild, score and keep, as train() does
            trajs = trajs + search_locally(sampler, trajs, reward_fn, 1e-8, cfg, gen)
        t.append(time.perf_counter())
        phases["sample"] += t[1] - t[0]
        phases["score"] += t[2] - t[1]
        phases["local_search"] += t[3] - t[2]
        model.train()
        for _ in range(cfg.updates_per_batch):
            t0 = time.perf_counter()
            value = compute_loss(settings, trajs, mdp, featurizer, model, device)
            t1 = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            value.backward()  # type: ignore[no-untyped-call]
            t2 = time.perf_counter()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            phases["loss_forward"] += t1 - t0
            phases["backward"] += t2 - t1
            phases["optimizer"] += time.perf_counter() - t2
        n_traj += len(trajs)
        n_states += sum(len(tr.states) - 1 for tr in trajs)
    total = sum(phases.values())
    return {
        "steps": n_steps,
        "batch_size": cfg.batch_size,
        "mean_blocks": round(n_states / max(1, n_traj), 2),
        "ms_per_step": {k: round(1000 * v / n_steps, 2) for k, v in phases.items()},
        "share": {k: round(v / total, 3) for k, v in phases.items()},
        "trajectories_per_s": round(n_traj / total, 2),
        "note": "score uses the reward cache, so repeats are free; a new molecule costs a proxy call",
    }


# ---------------------------------------------------------------------------------------- plot
def load_results(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """``seh_<loss>.json`` (2 CPU cores), ``seh_<loss>_gpu.json`` (keyed ``<loss>_gpu``) and other
    settings' runs ``seh_<loss>_<name>.json`` that have a ``.meta.json`` (keyed ``<loss>_<name>``)."""
    out = {}
    for loss in LOSSES:
        paths = [folder / f"seh_{loss}.json", folder / f"seh_{loss}_gpu.json"]
        paths += sorted(
            p
            for p in folder.glob(f"seh_{loss}_*.json")
            if not p.name.endswith((".meta.json", "_quick.json", "_gpu.json"))
            and p.with_name(p.stem + ".meta.json").is_file()
        )
        for path in paths:
            if path.is_file():
                pts = json.loads(path.read_text())
                if isinstance(pts, list) and pts:
                    out[path.stem.removeprefix("seh_")] = pts
    return out


#: besides each loss's ``seh_<loss>.json``, the runs BENCHMARKS.md compares with the paper: drawn in full in
#: seh.png; every other setting's run is drawn only in seh_variants.png (top-100 and modes)
HEADLINE = {
    "tb_t07_u2": "TB, T 0.7, 2 updates (default)",
    "tb_t07_u2_threads2": "TB default, --threads 2, machine to itself",
    "tb_h256_r50_eps01_t07": "TB, T 0.7, 1 update",
    "tb_h256_r50_eps01_t08": "TB, T 0.8",
    "tb_h256_r50_eps01": "TB, T 1 (session 7)",
}


def _label(key: str) -> str:
    if key in HEADLINE:
        return HEADLINE[key]
    if key.endswith("_gpu"):
        return f"{key.removesuffix('_gpu').upper()} on an H100"
    base, _, name = key.partition("_")
    return f"{base.upper()} ({name})" if name else base.upper()


def plot(folder: Path, out: Path) -> Path | None:
    """Two figures of the runs in ``folder`` against molecules visited, with the paper's figures as markers:
    ``out`` (top-k, modes and scaffolds, diversity) for each loss's main run and the HEADLINE runs, and
    ``<out>_variants.png`` (top-100 and modes) for every run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = load_results(folder)
    if not results:
        print(f"no seh_<loss>.json in {folder}: nothing to plot")
        return None
    colours = {"tb": "tab:blue", "fm": "tab:orange", "db": "tab:green", "subtb": "tab:red"}
    headline_colours = ["tab:purple", "tab:pink", "tab:brown", "tab:olive", "tab:cyan", "tab:gray"]
    # strict: a HEADLINE run without a colour would silently drop out of the main figure
    colours |= dict(zip(HEADLINE, headline_colours[: len(HEADLINE)], strict=True))
    main = {k: v for k, v in results.items() if k in colours or k.endswith("_gpu")}

    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(17, 7))
    for key, pts in main.items():
        x = [p["molecules"] for p in pts]
        c, label = colours.get(key.removesuffix("_gpu"), "k"), f"molgfn {_label(key)}"
        if key.endswith("_gpu"):  # one thin curve per panel: the GPU run is context, not the 2-core target
            ax1.plot(x, [p["top100"] for p in pts], "--", color=c, lw=0.8, alpha=0.6, label=f"{label} top100")
            ax2.plot(x, [p["modes_7"] for p in pts], "-", color=c, lw=0.8, alpha=0.6, label=f"{label} modes")
            continue
        for k, ls in (("top10", "-"), ("top100", "--"), ("top1000", ":")):
            ax1.plot(x, [p[k] for p in pts], ls, color=c, label=f"{label} {k}")
        ax2.plot(x, [p["modes_7"] for p in pts], "-", color=c, label=f"{label} modes")
        ax2.plot(x, [p["scaffolds_8"] for p in pts], "--", color=c, label=f"{label} scaffolds")
        ax3.plot(x, [p["top1000_mean_similarity"] for p in pts], "-", color=c, label=f"{label} Morgan")
        if all("modes_7_rdkit" in p for p in pts):
            ax2.plot(x, [p["modes_7_rdkit"] for p in pts], ":", color=c, label=f"{label} modes (RDKit fp)")
            rdkit_sim = [p["top1000_mean_similarity_rdkit"] for p in pts]
            ax3.plot(x, rdkit_sim, "--", color=c, label=f"{label} RDKit fp")
    _paper_markers(ax1, ax2, ax3)
    ax1.set_ylabel("mean proxy score of the k best distinct molecules")
    ax1.set_title("top-k sEH proxy score")
    ax2.set_title("modes > 7 (Tanimoto < 0.7) and scaffolds > 8")
    ax3.set_ylabel("mean pairwise Tanimoto, top 1,000 (lower: more diverse)")
    ax3.set_title("diversity of the top 1,000 (paper: RDKit-fingerprint scale)")
    for ax in (ax1, ax2, ax3):
        ax.legend(fontsize=7, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.12))
    secs = ", ".join(
        f"{_label(k)} {pts[-1]['molecules']:,} molecules in {pts[-1]['seconds'] / 60:.1f} min"
        for k, pts in main.items()
        if not k.endswith("_gpu")
    )
    title = textwrap.fill(f"molgfn on the sEH reference task (2 CPU cores; 1 torch thread unless named): {secs}", 220)
    fig.suptitle(title, fontsize=9)
    _save(fig, out)

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(15, 7.5))
    cycle = [plt.get_cmap("tab20")(i) for i in range(20)]
    for i, (key, pts) in enumerate(results.items()):
        x = [p["molecules"] for p in pts]
        rgba, ls = cycle[i % len(cycle)], "-" if key.startswith("tb") else "--"
        ax1.plot(x, [p["top100"] for p in pts], ls, color=rgba, label=_label(key))
        ax2.plot(x, [p["modes_7"] for p in pts], ls, color=rgba, label=_label(key))
    _paper_markers(ax1, ax2, None, ks=("top100",))
    ax1.set_ylim(6.0, 8.5)
    ax1.set_xlim(5e3, 2e6)
    ax1.set_ylabel("mean proxy score of the 100 best distinct molecules")
    ax1.set_title("top-100 sEH proxy score, every setting run")
    ax2.set_title("modes > 7 (Tanimoto < 0.7, Morgan), every setting run")
    for ax in (ax1, ax2):
        ax.legend(fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.12))
    fig.suptitle("molgfn settings on the sEH reference task (details and commands: BENCHMARKS.md)", fontsize=10)
    _save(fig, out.with_name(out.stem + "_variants.png"))
    return out


def _paper_markers(ax1: Any, ax2: Any, ax3: Any | None, ks: tuple[str, ...] = ("top10", "top100", "top1000")) -> None:
    """The paper's published figures (../shared/README.md) as grey markers; log-x axes from 80 molecules."""
    marks = {"top10": "o", "top100": "s", "top1000": "D"}
    for method, grey in (("GFlowNet", "black"), ("PPO", "0.55"), ("MARS", "0.75")):
        for n, vals in PAPER_TOPK[method].items():
            for (k, m), v in zip(marks.items(), vals, strict=True):
                if k in ks:
                    label = f"paper {method} {k}" if n == 100_000 else None
                    ax1.plot([n], [v], m, color=grey, ms=7 if method == "GFlowNet" else 5, label=label)
    ax2.plot([1e6], [PAPER_MODES_7["GFlowNet"]], "^", color="black", ms=9, label="paper GFlowNet modes (≥ 500)")
    ax2.plot(
        [1e6], [PAPER_SCAFFOLDS_8["GFlowNet"]], "^", color="black", mfc="none", ms=9, label="paper scaffolds (≥ 1,500)"
    )
    ax2.plot([1e6], [PAPER_MODES_7["MARS"]], "v", color="0.6", ms=8, label="paper MARS modes / scaffolds (< 100)")
    ax2.set_yscale("symlog", linthresh=10)
    ax2.set_ylim(bottom=0)
    ax2.set_ylabel("count")
    if ax3 is not None:
        for method, v in PAPER_TOP1000_SIMILARITY.items():
            ax3.axhline(v, color="black" if method == "GFlowNet" else "0.7", ls=":", lw=1)
            ax3.text(1.2e2, v + 0.005, f"paper {method} {v}", fontsize=8, color="0.3")
    for ax in [a for a in (ax1, ax2, ax3) if a is not None]:
        ax.set_xscale("log")
        ax.set_xlim(left=80, right=2e6)
        ax.set_xlabel("molecules visited")
        ax.grid(alpha=0.3, which="both")


def _save(fig: Any, out: Path) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    print(f"wrote {out}")


# ---------------------------------------------------------------------------------------- CLI
def print_table(points: list[dict[str, Any]]) -> None:
    print(
        f"\n{'loss':>5} {'molecules':>9} {'seconds':>8} {'traj/s':>7} {'top10':>6} {'top100':>6} "
        f"{'top1000':>7} {'modes_7':>7} {'scaf_8':>6} {'sim1000':>7} {'unique':>7}"
    )
    for p in points:

        def f(v: Any, spec: str) -> str:
            return format(v, spec) if v is not None else "-"

        print(
            f"{p['loss']:>5} {p['molecules']:>9} {p['seconds']:>8.1f} {f(p['trajectories_per_s'], '7.1f')} "
            f"{f(p['top10'], '6.2f')} {f(p['top100'], '6.2f')} {f(p['top1000'], '7.2f')} {p['modes_7']:>7} "
            f"{p['scaffolds_8']:>6} {f(p['top1000_mean_similarity'], '7.3f')} {p['unique']:>7}"
        )


def stop_handler(stop: threading.Event) -> Callable[[int, Any], None]:
    """A signal handler: the first signal asks for a clean stop, a second one exits at once."""

    def handle(signum: int, _frame: Any) -> None:
        if stop.is_set():
            raise SystemExit(128 + signum)  # the conventional exit status of a signalled process
        stop.set()
        print("\nstopping after the current step (signal again to exit now, writing nothing)", file=sys.stderr)

    return handle


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--loss", choices=LOSSES, default="tb")
    ap.add_argument("--trajectories", type=int, default=None, help="stop after N molecules visited")
    ap.add_argument("--minutes", type=float, default=None, help="stop after M minutes of training")
    ap.add_argument("--quick", action="store_true", help="30 s of training (the whole run < 60 s)")
    ap.add_argument("--out", type=Path, default=None, help="default benchmarks/results/seh_<loss>[_quick].json")
    ap.add_argument("--batch-size", type=int, default=16, help="trajectories per step (paper: 4)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--threads",
        type=_positive_int,
        default=1,
        help="torch intra-op threads (default 1); more only with the cores otherwise idle: with another "
        "process on them the waiting threads stall each other (measured: 10x slower)",
    )
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N] for the model (the MDP and the proxy stay on CPU)")
    ap.add_argument(
        "--override",
        type=json.loads,
        default=None,
        help="training settings replacing the defaults, as JSON (e.g. '{\"lr\": 1e-3}')",
    )
    ap.add_argument(
        "--molecules",
        type=Path,
        default=None,
        help="also write every distinct molecule visited as CSV: smiles,score,visits,first_visit",
    )
    ap.add_argument("--plot", action="store_true", help="only redraw the plot from the results folder")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    stop = threading.Event()  # finish the current step, then measure and write what was run
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop_handler(stop))
    if args.plot:
        plot(RESULTS, RESULTS / "seh.png")
        return
    data = shared_data()
    if data is None or not (data / "blocks_PDB_105.json").is_file() or not (data / "seh_proxy.npz").is_file():
        sys.exit(
            "benchmarks.seh needs the reference data (blocks_PDB_105.json, seh_proxy.npz) in ../shared/data "
            "or $MOLGFN_SHARED_DIR/data; not found"
        )
    minutes = args.minutes if args.minutes is not None else (0.5 if args.quick else None)
    trajectories = args.trajectories
    if minutes is None and trajectories is None:
        minutes = 10.0
    out = args.out or RESULTS / (f"seh_{args.loss}_quick.json" if args.quick else f"seh_{args.loss}.json")
    print(
        f"sEH reference task, loss {args.loss}, batch {args.batch_size}, device {args.device}, "
        f"budget {trajectories or '-'} molecules / {minutes or '-'} min, torch threads {torch.get_num_threads()}"
    )
    try:  # a bad setting (--batch-size, --device, --override) is found while the run is set up
        run = run_seh(
            data,
            args.loss,
            batch_size=args.batch_size,
            max_molecules=trajectories,
            max_seconds=None if minutes is None else 60 * minutes,
            seed=args.seed,
            profile_steps=3 if args.quick else 10,
            overrides={"device": args.device, **(args.override or {})},
            stop=stop,
        )
    except ConfigError as exc:
        sys.exit(f"benchmarks.seh: {exc}")
    print_table(run.points)
    prof = run.meta["profile"]
    if prof:
        print(
            f"\nprofile of {prof['steps']} steps at the end (batch {prof['batch_size']}, "
            f"{prof['mean_blocks']} blocks/molecule): "
            + ", ".join(f"{k} {v} ms ({100 * prof['share'][k]:.0f} %)" for k, v in prof["ms_per_step"].items())
        )
    write_json(out, run.points)
    write_json(out.with_name(out.stem + ".meta.json"), run.meta)
    if args.molecules:
        run.write_molecules(args.molecules)
    if not args.quick and out.resolve().parent == RESULTS.resolve():
        plot(RESULTS, RESULTS / "seh.png")


if __name__ == "__main__":
    main()
