"""The numpy sEH proxy reproduces the reference outputs of shared/data/seh_proxy_reference.csv."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem

from gfn.errors import SpecError
from gfn.rewards.seh_proxy import ZERO_EDGE, SEHProxy, featurize, load_seh_proxy

from .conftest import shared_file


def _reference() -> tuple[list[str], list[list[int]], np.ndarray]:
    with shared_file("seh_proxy_reference.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    smiles = [r["smiles"] for r in rows]
    stems = [[int(a) for a in r["stem_atoms"].split()] for r in rows]
    return smiles, stems, np.array([float(r["score"]) for r in rows])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_reproduces_reference_within_1e3(seh_weights: Path, dtype: type) -> None:
    smiles, stems, expected = _reference()
    assert len(smiles) == 65
    model = load_seh_proxy(seh_weights, dtype=dtype)
    got = model.score_smiles(smiles, stems)
    worst = np.abs(got - expected)
    assert worst.max() < 1e-3, [(s, g, e) for s, g, e in zip(smiles, got, expected, strict=True)]
    if dtype is np.float64:
        assert worst.max() < 1e-5


def test_batch_composition_does_not_matter(seh_weights: Path) -> None:
    smiles, stems, expected = _reference()
    model = load_seh_proxy(seh_weights)
    one_by_one = np.array([model.score_smiles([s], [st])[0] for s, st in zip(smiles, stems, strict=True)])
    small_batches = model.score_smiles(smiles, stems, batch_size=7)
    assert np.abs(one_by_one - expected).max() < 1e-3
    assert np.abs(small_batches - expected).max() < 1e-3


def test_stems_default_to_atom_zero(seh_weights: Path) -> None:
    model = load_seh_proxy(seh_weights)
    none, empty, zero, one = model.score_smiles(["CCO"] * 4, [None, [], [0], [1]])
    assert none == pytest.approx(empty, abs=1e-6) and none == pytest.approx(zero, abs=1e-6)
    assert one == pytest.approx(-0.127209, abs=1e-3)
    assert model.score_smiles(["CCO"])[0] == pytest.approx(none, abs=1e-6)


def test_invalid_and_stem_errors(seh_weights: Path) -> None:
    model = load_seh_proxy(seh_weights)
    out = model.score_smiles(["C1CC(", "", "CCO"])
    assert np.isnan(out[0]) and np.isnan(out[1]) and np.isfinite(out[2])
    with pytest.raises(ValueError, match="out of range"):
        model.score_smiles(["CCO"], [[7]])


def test_featurize_layout() -> None:
    g = featurize([Chem.MolFromSmiles("c1ccncc1O"), Chem.MolFromSmiles("[Na+]")], [[6], None])
    x = g.x
    assert x.shape == (8, 71)
    assert x[0, 1] == 1 and x[3, 2] == 1 and x[6, 3] == 1  # C, N, O one-hot
    assert x[7, 5] == 1 and x[7, 14 + 10] == 1  # Na: "other" element, atomic number 11
    assert x[0, 9] == 1 and x[0, 11] == 1 and x[6, 9] == 0  # aromatic sp2 carbon; O not aromatic
    assert x[0, 13] == 1 and x[6, 13] == 1 and x[3, 13] == 0  # hydrogens
    assert x[:, 6:9].sum() == 0
    assert x[:, 70].tolist() == [0, 0, 0, 0, 0, 0, 1, 1]  # stem on O; Na gets atom 0 flagged
    # 7 bonds, both directions, sorted by destination; the bond-less Na gets one zero-feature loop
    assert len(g.src) == 15 and np.all(np.diff(g.dst) >= 0)
    assert g.src[-1] == g.dst[-1] == 7 and g.edge_type[-1] == ZERO_EDGE
    assert set(g.edge_type[:-1].tolist()) == {0, 3}


def test_unusual_bonds_get_zero_features() -> None:
    g = featurize([Chem.MolFromSmiles("[NH3]->[Cu+2]"), Chem.MolFromSmiles("C#N")])
    assert g.edge_type.tolist() == [ZERO_EDGE, ZERO_EDGE, 2, 2]


def test_missing_weights_message(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MOLGFN_SEH_PROXY_WEIGHTS", raising=False)
    with pytest.raises(SpecError, match="never downloaded"):
        load_seh_proxy(None)
    monkeypatch.setenv("MOLGFN_SEH_PROXY_WEIGHTS", str(tmp_path / "missing.npz"))
    with pytest.raises(SpecError, match="not found"):
        load_seh_proxy(None)
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros(3))
    with pytest.raises(SpecError, match="lack"):
        load_seh_proxy(bad)


def test_from_mapping_rejects_incomplete_weights() -> None:
    with pytest.raises(ValueError, match="lack"):
        SEHProxy({"lin0.weight": np.zeros((64, 71))})


def test_no_torch_needed() -> None:
    import subprocess

    code = "import sys, gfn.rewards.seh_proxy; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])
