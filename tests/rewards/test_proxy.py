"""Proxy model: CSV reading, training on a tiny synthetic set, saving/loading, use as a component."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from rdkit import Chem

from app.cli import main
from gfn.errors import GfnError, SpecError
from gfn.rewards.compose import build_reward
from gfn.rewards.proxy import ProxyConfig, load_proxy_model, read_csv, spearman, train_proxy

_BASE = [
    "C", "CC", "CCC", "CCCC", "CCCCC", "CCCCCC", "CCCCCCC", "CCCCCCCC", "CCO", "CCCO", "CCCCO", "CCN",
    "CCCN", "c1ccccc1", "Cc1ccccc1", "CCc1ccccc1", "CCCc1ccccc1", "Oc1ccccc1", "Nc1ccccc1", "c1ccncc1",
    "C1CCCCC1", "CC1CCCCC1", "CCC1CCCCC1", "OC1CCCCC1", "CC(C)C", "CC(C)CC", "CC(C)(C)C", "CC(=O)O",
    "CCC(=O)O", "CCCC(=O)O", "c1ccc2ccccc2c1", "Cc1ccc2ccccc2c1", "CCOC", "CCOCC", "COC", "CCCOC",
    "NCCN", "OCCO", "OCC(O)CO", "CCCCCCCCC",
]  # fmt: skip


@pytest.fixture(autouse=True)
def _restore_torch_threads() -> Iterator[None]:
    """Training here (and the CLI) use one thread; give the rest of the session its setting back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _write_csv(path: Path) -> None:
    """Semicolon-separated, quoted, with a salt, an empty value and an unparsable SMILES."""
    lines = ['"Smiles";"pChEMBL Value";"Other"']
    for smi in _BASE:
        heavy = Chem.MolFromSmiles(smi).GetNumHeavyAtoms()
        lines.append(f'"{smi}";"{heavy / 2:.2f}";"x"')
    lines += ['"CCCCCC(=O)[O-].[Na+]";"4.00";"salt"', '"CCO";"";"empty"', '"C1CC(";"3.0";"bad"']
    path.write_text("\n".join(lines) + "\n")


def test_read_csv_cleans_rows(tmp_path: Path) -> None:
    csv_path = tmp_path / "data.csv"
    _write_csv(csv_path)
    data = read_csv(csv_path, "Smiles", "pChEMBL Value", sep=";")
    assert data.n_rows == len(_BASE) + 3
    assert data.n_dropped_empty == 1 and data.n_dropped_invalid == 1
    assert "CCCCCC(=O)[O-]" in data.smiles  # largest fragment of the salt
    assert len(data.smiles) == len(set(data.smiles)) == len(_BASE) + 1
    with pytest.raises(GfnError, match="column 'Value' not in"):
        read_csv(csv_path, "Smiles", "Value", sep=";")
    with pytest.raises(GfnError, match="no such file"):
        read_csv(tmp_path / "none.csv", "Smiles", "Value")


def test_spearman_hand_values() -> None:
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(0.9486833, abs=1e-6)  # ties averaged


def test_train_save_load_and_score(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    csv_path = tmp_path / "data.csv"
    _write_csv(csv_path)
    data = read_csv(csv_path, "Smiles", "pChEMBL Value", sep=";")
    cfg = ProxyConfig(hidden=32, steps=2, epochs=25, batch_size=8, lr=3e-3, dropout=0.0, seed=1)
    result = train_proxy(data, tmp_path / "model", cfg)
    assert set(result.metrics) >= {"test_rmse", "test_spearman", "val_rmse", "val_spearman"}
    assert result.n_train + result.n_val + result.n_test == len(data.smiles)
    meta = json.loads((tmp_path / "model" / "metadata.json").read_text())
    assert meta["format"] == "molgfn-proxy" and meta["split"]["test"] == result.n_test
    state = torch.load(tmp_path / "model" / "model.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())

    model = load_proxy_model(tmp_path / "model")
    pred = model.predict_smiles(["CCCCCCCC", "CC", "C1CC("])
    assert np.isnan(pred[2])
    assert pred[0] > pred[1]  # learned: bigger molecules have larger values
    train_pred = model.predict_smiles(data.smiles)
    assert spearman(train_pred, data.values) > 0.7

    fn = build_reward({"components": [{"name": "proxy", "params": {"model": str(tmp_path / "model")}}]})
    (res,) = fn(["CCCCCCCC"])
    assert res.reward == pytest.approx(max(float(pred[0]), 1e-8), rel=1e-5)
    norm = build_reward(
        {"components": [{"name": "proxy", "params": {"model": str(tmp_path / "model"), "normalize": True}}]}
    )
    assert 0.0 <= norm(["CCCCCCCC"])[0].reward <= 1.0


def test_too_few_molecules(tmp_path: Path) -> None:
    csv_path = tmp_path / "tiny.csv"
    csv_path.write_text("smiles,y\nCC,1\nCCC,2\n")
    with pytest.raises(GfnError, match="at least 10"):
        train_proxy(read_csv(csv_path, "smiles", "y"), tmp_path / "m")


def test_load_rejects_non_model_dir(tmp_path: Path) -> None:
    (tmp_path / "metadata.json").write_text('{"format": "other"}')
    (tmp_path / "model.pt").write_bytes(b"")
    with pytest.raises(SpecError, match="is not a molgfn-proxy model"):
        load_proxy_model(tmp_path)


def test_cli_proxy_train(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv_path = tmp_path / "data.csv"
    _write_csv(csv_path)
    out = tmp_path / "cli_model"
    args = [
        "proxy",
        "train",
        "--csv",
        str(csv_path),
        "--smiles-col",
        "Smiles",
        "--value-col",
        "pChEMBL Value",
    ]
    assert main([*args, "--out", str(out), "--sep", ";", "--epochs", "2", "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert "test_spearman" in summary and (out / "model.pt").is_file()
    assert main([*args[:-1], "Nope", "--out", str(out), "--sep", ";"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("molgfn proxy: error: --value-col: column 'Nope' not in") and "\n" not in err
