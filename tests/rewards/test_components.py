"""Each RDKit component against RDKit itself or hand-known values; failures give NaN."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import QED, Crippen, Descriptors, Lipinski, rdMolDescriptors

from gfn.errors import SpecError
from gfn.rewards import components as C
from gfn.rewards.spec import parse_reward_spec

SMILES = [
    "CCO",
    "c1ccccc1",
    "CC(=O)Oc1ccccc1C(=O)O",  # aspirin
    "O=C(NC1CCCCC1)NC12CC3CC(CC(C3)C1)C2",
    "Cc1ccc(S(=O)(=O)N2CCC(C(=O)Nc3ccc4c(c3)OCO4)CC2)c(C)c1",
    "[H]OC([H])([H])C",  # explicit hydrogens
    "C[N+](C)(C)C.[Cl-]",
]
MOLS = [Chem.MolFromSmiles(s) for s in SMILES]


def _build(name: str, params: dict[str, object] | None = None) -> C.Component:
    spec = parse_reward_spec({"components": [{"name": name, "params": params or {}}]})
    return C.build_component(name, spec.components[0].params)


@pytest.mark.parametrize(
    ("name", "reference"),
    [
        ("qed", QED.qed),
        ("logp", Crippen.MolLogP),  # type: ignore[attr-defined]
        ("mw", Descriptors.MolWt),  # type: ignore[attr-defined]
        ("tpsa", rdMolDescriptors.CalcTPSA),
        ("hbd", Lipinski.NumHDonors),  # type: ignore[attr-defined]
        ("hba", Lipinski.NumHAcceptors),  # type: ignore[attr-defined]
        ("rotatable_bonds", Descriptors.NumRotatableBonds),  # type: ignore[attr-defined]
        ("rings", rdMolDescriptors.CalcNumRings),
        ("aromatic_rings", rdMolDescriptors.CalcNumAromaticRings),
        ("fsp3", rdMolDescriptors.CalcFractionCSP3),
    ],
)
def test_descriptors_match_rdkit(name: str, reference: object) -> None:
    got = _build(name)(MOLS)
    expected = [reference(Chem.MolFromSmiles(s)) for s in SMILES]  # type: ignore[operator]
    assert got == pytest.approx(expected, abs=1e-12)


def test_descriptor_hand_values() -> None:
    ethanol, benzene = MOLS[0], MOLS[1]
    assert _build("mw")([ethanol])[0] == pytest.approx(46.069, abs=1e-3)
    assert _build("tpsa")([ethanol])[0] == pytest.approx(20.23, abs=1e-2)
    assert _build("hbd")([ethanol])[0] == 1 and _build("hba")([ethanol])[0] == 1
    assert _build("fsp3")([ethanol, benzene]).tolist() == [1.0, 0.0]
    assert _build("rings")([benzene])[0] == 1 and _build("aromatic_rings")([benzene])[0] == 1
    assert _build("rotatable_bonds")([benzene])[0] == 0


def test_qed_identical_to_rdkit_on_varied_molecules() -> None:
    smiles = ["O=C1C(=Cc2ccccc2)SC(=S)N1", "C#CC(=O)c1ccccc1I", "OP(=O)(O)OCC", "[Na+].[O-]C(=O)C", "C1CC1"]
    mols = [Chem.MolFromSmiles(s) for s in smiles]
    assert C.Descriptor("qed")(mols) == pytest.approx([QED.qed(m) for m in mols], abs=1e-15)  # type: ignore[no-untyped-call]


def test_sa_score() -> None:
    values = _build("sa")(MOLS[:4])
    assert values[1] == pytest.approx(1.0)  # benzene: clipped to the easy end
    assert all(1.0 <= v <= 10.0 for v in values)
    assert values[3] > values[0]  # the adamantyl urea is harder to make than ethanol


def test_similarity_max_and_mean() -> None:
    comp = _build("similarity", {"smiles": ["CCO", "c1ccccc1"]})
    values = comp([Chem.MolFromSmiles("CCO"), Chem.MolFromSmiles("c1ccccc1"), Chem.MolFromSmiles("CCCCCC")])
    assert values[0] == 1.0 and values[1] == 1.0
    assert 0.0 <= values[2] < 1.0
    mean = _build("similarity", {"smiles": ["CCO", "c1ccccc1"], "aggregate": "mean"})
    assert mean([Chem.MolFromSmiles("CCO")])[0] == pytest.approx(0.5)  # 1 and 0 (no shared bits)


def test_similarity_radius_changes_value() -> None:
    mol = [Chem.MolFromSmiles("CCCCO")]
    r0 = _build("similarity", {"smiles": "CCCCN", "radius": 0})(mol)[0]
    r2 = _build("similarity", {"smiles": "CCCCN", "radius": 2})(mol)[0]
    assert r0 > r2 > 0


def test_substructure_forbid_require_and_penalty() -> None:
    mols = [Chem.MolFromSmiles(s) for s in ("O=[N+]([O-])c1ccccc1", "c1ccccc1", "Nc1ccccc1")]
    forbid = _build("substructure", {"smarts": "[N+](=O)[O-]", "penalty": 0.25})
    assert forbid(mols).tolist() == [0.25, 1.0, 1.0]
    require = _build("substructure", {"smarts": ["c1ccccc1", "[NX3;H2]"], "mode": "require"})
    assert require(mols).tolist() == [0.0, 0.0, 1.0]
    assert isinstance(forbid, C.Check) and not forbid.hard
    hard = _build("substructure", {"smarts": "N", "hard": True})
    assert isinstance(hard, C.Check) and hard.hard


def test_filter_catalogs_and_lipinski() -> None:
    rhodanine = Chem.MolFromSmiles("O=C1C(=Cc2ccccc2)SC(=S)N1")  # PAINS ene_rhod_A
    acid_chloride = Chem.MolFromSmiles("CC(=O)Cl")  # Brenk acid_halide
    clean = Chem.MolFromSmiles("CC(=O)Nc1ccccc1")
    greasy = Chem.MolFromSmiles("C" * 40 + "C(=O)O")  # MW > 500 and logP > 5: two violations
    pains = _build("filter", {"catalogs": ["pains"]})
    assert pains([rhodanine, acid_chloride, clean]).tolist() == [0.0, 1.0, 1.0]
    brenk = _build("filter", {"catalogs": ["brenk"], "penalty": 0.5})
    assert brenk([rhodanine, acid_chloride, clean]).tolist() == [0.5, 0.5, 1.0]
    lipinski = _build("filter", {"catalogs": ["lipinski"]})
    assert lipinski([clean, greasy]).tolist() == [1.0, 0.0]
    assert C.lipinski_violations(greasy) == 2
    strict = _build("filter", {"catalogs": ["lipinski"], "max_violations": 2})
    assert strict([greasy]).tolist() == [1.0]


def test_failure_gives_nan_not_exception() -> None:
    comp = C.Descriptor("qed")
    comp._fn = lambda m: 1 / 0
    assert math.isnan(comp([MOLS[0]])[0])


def test_seh_proxy_missing_weights_is_a_spec_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOLGFN_SEH_PROXY_WEIGHTS", raising=False)
    with pytest.raises(SpecError) as info:
        C.build_component("seh_proxy", {"weights": None}, field="components[0].params")
    assert info.value.field == "components[0].params.weights"
    assert "MOLGFN_SEH_PROXY_WEIGHTS" in info.value.reason
    with pytest.raises(SpecError, match="not found"):
        C.build_component("seh_proxy", {"weights": "/no/such/seh_proxy.npz"})


def test_proxy_missing_model_is_a_spec_error(tmp_path: object) -> None:
    with pytest.raises(SpecError, match="not a proxy model directory"):
        C.build_component("proxy", {"model": str(tmp_path), "normalize": False}, field="components[2].params")


def test_empty_batch() -> None:
    assert C.Descriptor("mw")([]).shape == (0,)
    assert np.asarray(_build("filter")([])).shape == (0,)


def test_sa_table_is_loaded_once_under_concurrent_first_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Many threads asking for SA at once (a cold burst of API requests) load RDKit's table once."""
    import threading

    from gfn.rewards import components as comp

    loads: list[int] = []
    real = comp._load_sascorer

    def counting() -> Any:
        loads.append(1)
        return real()

    monkeypatch.setattr(comp, "_SA_MODULE", [])
    monkeypatch.setattr(comp, "_load_sascorer", counting)
    start = threading.Barrier(8)
    mol = Chem.MolFromSmiles("CC(=O)Nc1ccc(O)cc1")
    results: list[float] = []

    def call() -> None:
        start.wait()
        results.append(comp.sa(mol))

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(loads) == 1 and len(results) == 8 and len(set(results)) == 1
