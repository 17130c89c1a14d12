"""`molgfn score`: CSV output, invalid SMILES, bad specs (exit status 2, one line)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from rdkit import Chem
from rdkit.Chem import QED

from app.cli import main


def _spec(tmp_path: Path, spec: object) -> str:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    return str(path)


def test_score_smiles_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = {"components": [{"name": "qed"}, {"name": "mw", "weight": 0}, {"name": "qed"}]}
    assert main(["score", "--spec", _spec(tmp_path, spec), "OCC", "C1CC(", "c1ccccc1"]) == 0
    captured = capsys.readouterr()
    rows = list(csv.reader(io.StringIO(captured.out)))
    assert rows[0] == ["smiles", "reward", "qed", "mw", "qed_2"]
    assert rows[1][0] == "CCO"
    assert float(rows[1][1]) == pytest.approx(QED.qed(Chem.MolFromSmiles("CCO")), abs=1e-5)  # type: ignore[no-untyped-call]
    assert float(rows[1][3]) == pytest.approx(46.069, abs=1e-3)
    assert rows[2] == ["C1CC(", "", "", "", ""]
    assert "C1CC(" in captured.err and "invalid" in captured.err
    assert rows[3][0] == "c1ccccc1" and len(rows) == 4


def test_score_smiles_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    smiles_file = tmp_path / "in.smi"
    smiles_file.write_text("smiles\nCCO ethanol\n\n# comment\nc1ccccc1\n")
    spec = _spec(tmp_path, {"components": [{"name": "mw"}]})
    assert main(["score", "--spec", spec, "--smiles-file", str(smiles_file)]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert [r[0] for r in rows] == ["smiles", "CCO", "c1ccccc1"]


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"components": [{"name": "qed", "weight": -1}]}, "components[0].weight"),
        ({"components": [{"name": "qed"}], "beta": 0}, "beta"),
        ({"components": [{"name": "fancy"}]}, "components[0].name"),
        (
            {"components": [{"name": "substructure", "params": {"smarts": "[C"}}]},
            "components[0].params.smarts",
        ),
        (
            {"components": [{"name": "seh_proxy", "params": {"weights": "/no/such.npz"}}]},
            "components[0].params.weights",
        ),
    ],
)
def test_bad_spec_exit_2_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], spec: object, field: str) -> None:
    assert main(["score", "--spec", _spec(tmp_path, spec), "CCO"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and f"error: {field}: " in lines[0]


def test_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = _spec(tmp_path, {"components": [{"name": "qed"}]})
    assert main(["score", "--spec", str(tmp_path / "none.json"), "CCO"]) == 2
    assert "--spec" in capsys.readouterr().err
    (tmp_path / "broken.json").write_text("{")
    assert main(["score", "--spec", str(tmp_path / "broken.json"), "CCO"]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert main(["score", "--spec", spec]) == 2
    assert "smiles" in capsys.readouterr().err
    assert main(["score", "--spec", spec, "--smiles-file", str(tmp_path / "none.smi")]) == 2
    assert "--smiles-file" in capsys.readouterr().err
