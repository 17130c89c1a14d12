"""Does scoring the bare molecule instead of the paper's stem-flagged block molecule move sEH scores?

    python -m benchmarks.seh_stems [--n N] [--seed S]

molgfn's sEH reward scores the finished molecule (atom feature 70 set on atom 0). The paper's code
scored its block molecule, feature 70 set on the atoms that were still open attachment points
(stems). This draws N random block molecules of the reference task (first block uniform, then a
uniform size of 2–8 blocks, each attachment uniform over the free stems and block types), scores
each both ways with this project's proxy, and reports how far apart the two scores are, overall
and among the best — the part of the distribution the top-k figures measure.

Output: ``benchmarks/results/seh_stems.json``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from rdkit import Chem  # noqa: E402

from benchmarks._common import RESULTS, shared_data, write_json  # noqa: E402
from benchmarks.seh import paper_reward_spec  # noqa: E402
from gfn.build import build_reward  # noqa: E402
from gfn.chem.blocks import load_library  # noqa: E402
from gfn.mdp.block_mdp import BlockMDP  # noqa: E402
from gfn.mdp.state import ATTACH, State  # noqa: E402


def smiles_with_stems(mdp: BlockMDP, state: State) -> tuple[str, list[int]] | None:
    """Canonical SMILES of the state's molecule and its open stems as atom indices of that SMILES."""
    mol = mdp.to_mol(state)
    if mol is None:
        return None
    offsets = np.cumsum([0] + [mdp.library.fragment_mol(f).GetNumAtoms() for f in state.frags])
    atoms = {int(offsets[node]) + a for node, stems in enumerate(state.stems) for a in stems}
    smiles = Chem.MolToSmiles(mol)
    order = [int(x) for x in mol.GetProp("_smilesAtomOutputOrder").strip("[],").split(",")]
    position = {atom: k for k, atom in enumerate(order)}
    return smiles, sorted(position[a] for a in atoms)


def random_molecule(mdp: BlockMDP, rng: random.Random) -> State:
    state = mdp.step(mdp.initial, rng.choice(mdp.legal_actions(mdp.initial)))
    size = rng.randint(2, mdp.max_blocks)
    while state.n_blocks < size and mdp.can_attach(state):
        state = mdp.step(state, rng.choice([a for a in mdp.legal_actions(state) if a.kind == ATTACH]))
    return state


def compare(n: int, seed: int) -> dict[str, Any]:
    data = shared_data()
    if data is None or not (data / "seh_proxy.npz").is_file():
        sys.exit("benchmarks.seh_stems needs ../shared/data (blocks_PDB_105.json, seh_proxy.npz); not found")
    mdp = BlockMDP(load_library(data / "blocks_PDB_105.json"), max_blocks=8, min_blocks=2)
    reward = build_reward(paper_reward_spec(data / "seh_proxy.npz"))
    rng = random.Random(seed)
    smiles: list[str] = []
    stems: list[list[int]] = []
    while len(smiles) < n:
        found = smiles_with_stems(mdp, random_molecule(mdp, rng))
        if found is not None:
            smiles.append(found[0])
            stems.append(found[1])
    bare = np.array([r.components["seh_proxy"] for r in reward(smiles)])
    flagged = np.array([r.components["seh_proxy"] for r in reward(smiles, [s or None for s in stems])])
    diff = flagged - bare

    def top(by: np.ndarray, k: int) -> dict[str, float]:
        idx = np.argsort(-by)[:k]
        return {"bare": round(float(bare[idx].mean()), 4), "stems": round(float(flagged[idx].mean()), 4)}

    return {
        "molecules": n,
        "seed": seed,
        "mean_open_stems": round(float(np.mean([len(s) for s in stems])), 3),
        "with_open_stems": int(sum(1 for s in stems if s)),
        "correlation": round(float(np.corrcoef(bare, flagged)[0, 1]), 4),
        "mean_difference_stems_minus_bare": round(float(diff.mean()), 4),
        "mean_abs_difference": round(float(np.abs(diff).mean()), 4),
        "quantiles": {
            str(q): {"bare": round(float(np.quantile(bare, q)), 4), "stems": round(float(np.quantile(flagged, q)), 4)}
            for q in (0.5, 0.9, 0.99)
        },
        "top50_by_bare_score": top(bare, 50),
        "top50_by_stem_score": top(flagged, 50),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=5000, help="random molecules (default 5,000)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    result = compare(args.n, args.seed)
    for key, value in result.items():
        print(f"{key}: {value}")
    write_json(RESULTS / "seh_stems.json", result)


if __name__ == "__main__":
    main()
