"""build_reward: aggregation, floors, filters, naming, caching, stems."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import QED

from gfn.errors import SpecError
from gfn.rewards.compose import ScoredMolecule, aggregate, build_reward, component_keys, score_smiles

NAPHTHALENE = "c1ccc2ccccc2c1"  # 2 rings, 2 aromatic rings


def _two(aggregate_: str, weights: tuple[float, float] = (1.0, 3.0), **extra: Any) -> dict[str, Any]:
    """rings -> 2/4 = 0.5 and aromatic_rings -> 2/2.5 = 0.8 for naphthalene."""
    return {
        "components": [
            {"name": "rings", "transform": {"type": "linear", "low": 0, "high": 4}, "weight": weights[0]},
            {
                "name": "aromatic_rings",
                "transform": {"type": "linear", "low": 0, "high": 2.5},
                "weight": weights[1],
            },
        ],
        "aggregate": aggregate_,
        **extra,
    }


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("geometric_mean", math.exp((math.log(0.5) + 3 * math.log(0.8)) / 4)),  # 0.5^0.25 0.8^0.75
        ("arithmetic_mean", (0.5 + 3 * 0.8) / 4),  # 0.725
        ("product", 0.5 * 0.8**3),  # 0.256
        ("min", 0.5),
    ],
)
def test_aggregations(how: str, expected: float) -> None:
    (res,) = build_reward(_two(how))([NAPHTHALENE])
    assert res.reward == pytest.approx(expected, rel=1e-12)
    assert res.components == {"rings": 2.0, "aromatic_rings": 2.0}  # raw values
    assert res.valid and res.smiles == NAPHTHALENE


def test_geometric_mean_hand_value() -> None:
    (res,) = build_reward(_two("geometric_mean"))([NAPHTHALENE])
    assert res.reward == pytest.approx(0.711312, abs=1e-6)


def test_aggregate_function_directly() -> None:
    s = np.array([[0.25, 1.0], [0.0, 1.0], [-1.0, 0.5]])
    w = np.array([1.0, 1.0])
    assert aggregate(s, w, "geometric_mean")[:2].tolist() == pytest.approx([0.5, 0.0])
    assert aggregate(s, w, "geometric_mean")[2] == 0.0  # negative counts as 0
    assert aggregate(s, w, "arithmetic_mean").tolist() == pytest.approx([0.625, 0.5, -0.25])
    assert aggregate(s, w, "product").tolist() == pytest.approx([0.25, 0.0, 0.0])
    assert aggregate(s, w, "min").tolist() == [0.25, 0.0, -1.0]
    assert math.isnan(aggregate(np.array([[np.nan, 1.0]]), w, "geometric_mean")[0])


def test_single_identity_component_is_raw_value() -> None:
    mols = ["CC(=O)Oc1ccccc1C(=O)O", "CCO"]
    results = build_reward({"components": [{"name": "qed"}]})(mols)
    for smi, res in zip(mols, results, strict=True):
        assert res.reward == QED.qed(Chem.MolFromSmiles(smi))  # type: ignore[no-untyped-call]  # exactly, no exp(log())
        assert res.components == {"qed": res.reward}
    (mw,) = build_reward({"components": [{"name": "mw"}]})(["CCO"])
    assert mw.reward == pytest.approx(46.069, abs=1e-3)


def test_beta_and_floor() -> None:
    (res,) = build_reward(_two("min", beta=3.0))([NAPHTHALENE])
    assert res.reward == pytest.approx(0.5**3)
    assert res.log_reward == pytest.approx(3 * math.log(0.5))
    spec = {"components": [{"name": "logp"}], "min_reward": 0.01, "beta": 2.0}
    (neg,) = build_reward(spec)(["OCC(O)CO"])  # glycerol: logP < 0 -> floored
    assert neg.reward == pytest.approx(0.01**2)


def test_invalid_smiles_gets_floor() -> None:
    fn = build_reward({"components": [{"name": "qed"}], "min_reward": 1e-4, "beta": 2})
    results = fn(["C1CC(", "", "CCO", "[Xe](C)(C)(C)(C)(C)(C)(C)(C)"])
    assert [r.valid for r in results] == [False, False, True, False]
    for r in (results[0], results[1], results[3]):
        assert r.reward == pytest.approx(1e-8) == fn.floor
        assert r.smiles is None and r.components == {}
    assert results[2].reward > 1e-8


def test_score_mols_accepts_none_and_mols() -> None:
    fn = build_reward({"components": [{"name": "mw"}]})
    res = fn.score_mols([None, Chem.MolFromSmiles("OCC")])
    assert not res[0].valid and res[1].smiles == "CCO"


def test_hard_filters() -> None:
    spec = {
        "components": [{"name": "qed"}],
        "filters": [{"name": "mw", "max": 150}, {"name": "substructure", "params": {"smarts": "Cl"}}],
        "min_reward": 1e-6,
    }
    fn = build_reward(spec)
    small, heavy, chlorinated = fn(["CCO", "CC(=O)Oc1ccccc1C(=O)O", "CCCl"])
    assert small.reward == pytest.approx(QED.qed(Chem.MolFromSmiles("CCO")))  # type: ignore[no-untyped-call]
    assert heavy.reward == 1e-6  # MW 180 > 150
    assert chlorinated.reward == 1e-6
    (heavy_ok,) = build_reward({**spec, "filters": [{"name": "mw", "max": 200}]})(["CC(=O)Oc1ccccc1C(=O)O"])
    assert heavy_ok.reward > 1e-6


def test_hard_check_component_floors_any_aggregate() -> None:
    spec = {
        "components": [
            {"name": "qed"},
            {"name": "substructure", "params": {"smarts": "[N+](=O)[O-]", "hard": True, "penalty": 0.9}},
        ],
        "aggregate": "arithmetic_mean",
        "min_reward": 1e-3,
    }
    nitro, plain = build_reward(spec)(["O=[N+]([O-])c1ccccc1", "c1ccccc1"])
    assert nitro.reward == 1e-3
    assert nitro.components["substructure"] == 0.9
    assert plain.reward == pytest.approx((QED.qed(Chem.MolFromSmiles("c1ccccc1")) + 1.0) / 2)  # type: ignore[no-untyped-call]


def test_soft_penalty_factor_with_product() -> None:
    spec = {
        "components": [{"name": "qed"}, {"name": "substructure", "params": {"smarts": "Cl", "penalty": 0.5}}],
        "aggregate": "product",
    }
    (res,) = build_reward(spec)(["Clc1ccccc1"])
    assert res.reward == pytest.approx(QED.qed(Chem.MolFromSmiles("Clc1ccccc1")) * 0.5)  # type: ignore[no-untyped-call]


def test_zero_weight_component_is_reported_not_aggregated() -> None:
    spec = {"components": [{"name": "qed"}, {"name": "mw", "weight": 0}]}
    (res,) = build_reward(spec)(["CCO"])
    assert res.reward == QED.qed(Chem.MolFromSmiles("CCO"))  # type: ignore[no-untyped-call]
    assert res.components["mw"] == pytest.approx(46.069, abs=1e-3)


def test_duplicate_component_names_are_disambiguated() -> None:
    assert component_keys(["qed", "sa", "qed", "qed"]) == ["qed", "sa", "qed_2", "qed_3"]
    fn = build_reward({"components": [{"name": "qed"}, {"name": "qed", "transform": {"type": "step", "low": 0.9}}]})
    assert fn.component_names == ["qed", "qed_2"]
    (res,) = fn(["CCO"])
    assert set(res.components) == {"qed", "qed_2"}
    assert res.reward == fn.floor  # the step gives 0 -> geometric mean 0 -> floor


def test_cache_by_canonical_smiles() -> None:
    fn = build_reward({"components": [{"name": "qed"}]}, cache_size=10)
    first = fn(["OCC", "CCO", "OCC"])
    assert first[0] is first[1] is first[2]
    assert fn.cache_info()["misses"] == 1
    again = fn(["CCO"])
    assert again[0] is first[0]
    info = fn.cache_info()
    assert info["hits"] == 3 and info["misses"] == 1 and info["size"] <= 10
    fn.clear_cache()
    assert fn.cache_info()["size"] == 0


def test_cache_is_bounded() -> None:
    fn = build_reward({"components": [{"name": "mw"}]}, cache_size=3)
    fn(["C" * k for k in range(1, 10)])
    assert fn.cache_info()["size"] == 3


def test_rewards_array_and_score_smiles() -> None:
    spec = {"components": [{"name": "mw"}]}
    assert build_reward(spec).rewards(["C", "CC"]).tolist() == pytest.approx([16.043, 30.07], abs=1e-3)
    out = score_smiles(spec, ["C"])
    assert isinstance(out[0], ScoredMolecule)


def test_bad_spec_raises_spec_error() -> None:
    with pytest.raises(SpecError, match=r"components\[0\]\.name"):
        build_reward({"components": [{"name": "nope"}]})


def test_stems_length_mismatch_is_an_error() -> None:
    fn = build_reward({"components": [{"name": "mw"}]})
    with pytest.raises(ValueError, match="stems"):
        fn(["CCO"], stems=[[0], [1]])


def test_seh_proxy_component_and_stems(seh_weights: Any) -> None:
    fn = build_reward({"components": [{"name": "seh_proxy", "params": {"weights": str(seh_weights)}}]})
    # reference rows: "CCO" with stem atom 1 -> -0.127209; a bare "C" (atom 0 flagged) -> -0.035136
    with_stem, bare_c = fn(["CCO", "C"], stems=[[1], None])
    assert with_stem.reward == fn.floor  # negative score -> floored
    assert with_stem.components["seh_proxy"] == pytest.approx(-0.127209, abs=1e-3)
    assert bare_c.components["seh_proxy"] == pytest.approx(-0.035136, abs=1e-3)
    # without stems the canonical atom order decides atom 0, so the spelling does not matter
    a, b = fn(["OCC", "CCO"])
    assert a.components["seh_proxy"] == pytest.approx(b.components["seh_proxy"], abs=1e-6)
    (adamantyl,) = fn(["O=C(NC1CCCCC1)NC12CC3CC(CC(C3)C1)C2"])
    assert adamantyl.reward == pytest.approx(4.979578, abs=1e-3)


def test_seh_proxy_weights_from_env(seh_weights: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOLGFN_SEH_PROXY_WEIGHTS", str(seh_weights))
    (res,) = score_smiles({"components": [{"name": "seh_proxy"}]}, ["c1ccncc1"])
    assert res.reward == pytest.approx(0.533645, abs=1e-3)


def test_paper_reward(seh_weights: Any) -> None:
    spec = {
        "components": [
            {
                "name": "seh_proxy",
                "params": {"weights": str(seh_weights)},
                "transform": {"type": "linear", "low": 0, "high": 8, "clip": False},
            }
        ],
        "min_reward": 0.0125,
        "beta": 10,
    }
    high, low = build_reward(spec)(["O=C(NC1CCCCC1)NC12CC3CC(CC(C3)C1)C2", "C"])
    assert high.reward == pytest.approx((4.979578 / 8) ** 10, rel=1e-3)
    assert low.reward == pytest.approx((0.1 / 8) ** 10)


@pytest.mark.slow
def test_worker_pool_matches_in_process() -> None:
    spec = {"components": [{"name": "qed"}, {"name": "sa"}, {"name": "mw", "weight": 0}]}
    smiles = [f"C{'C' * k}O" for k in range(40)] + ["C1CC(", "c1ccccc1"]
    serial = build_reward(spec)(smiles)
    with build_reward(spec, workers=2) as fn:
        parallel = fn(smiles)
        assert fn.workers == 2  # the pool worked (no fallback)
        assert fn(smiles[:3]) == serial[:3]  # cached
    assert parallel == serial


def test_unexpected_component_error_costs_only_that_molecule() -> None:
    fn = build_reward({"components": [{"name": "mw"}]})

    class Flaky:
        name = "mw"

        def __call__(self, mols: Sequence[Chem.Mol], stems: object = None) -> np.ndarray:
            if any(m.GetNumAtoms() == 3 for m in mols):
                raise RuntimeError("boom")
            return np.array([float(m.GetNumAtoms()) for m in mols])

    fn._components[0] = Flaky()
    ok, bad = fn(["CC", "CCO"])
    assert ok.reward == 2.0 and ok.components == {"mw": 2.0}
    assert bad.reward == fn.floor and bad.valid and bad.smiles == "CCO"
