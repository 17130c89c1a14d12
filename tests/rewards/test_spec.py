"""RewardSpec validation: defaults, one clear message per problem, schema, and no heavy imports."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from gfn.errors import SpecError
from gfn.rewards.spec import COMPONENT_NAMES, RewardSpec, parse_reward_spec, reward_spec_json_schema

from .conftest import REPO_ROOT


def _err(spec: Any) -> SpecError:
    with pytest.raises(SpecError) as info:
        parse_reward_spec(spec)
    return info.value


def test_defaults() -> None:
    spec = parse_reward_spec({"components": [{"name": "qed"}]})
    assert spec.aggregate == "geometric_mean"
    assert spec.beta == 1.0
    assert 0 < spec.min_reward <= 1e-6
    assert spec.filters == []
    comp = spec.components[0]
    assert comp.weight == 1.0 and comp.transform.type == "identity" and comp.params == {}


def test_all_component_names_accepted() -> None:
    needed = {"qed", "sa", "logp", "mw", "tpsa", "hbd", "hba", "rotatable_bonds", "rings", "aromatic_rings"}
    needed |= {"fsp3", "similarity", "substructure", "filter", "proxy", "seh_proxy"}
    assert needed <= set(COMPONENT_NAMES)


def test_params_are_resolved_with_defaults() -> None:
    spec = parse_reward_spec({"components": [{"name": "similarity", "params": {"smiles": "CCO"}}]})
    assert spec.components[0].params == {"smiles": ["CCO"], "radius": 2, "n_bits": 2048, "aggregate": "max"}


def test_json_text_accepted() -> None:
    assert parse_reward_spec('{"components": [{"name": "mw"}]}').components[0].name == "mw"


@pytest.mark.parametrize(
    ("spec", "field", "reason"),
    [
        ({"components": [{"name": "foo"}]}, "components[0].name", "unknown component 'foo'"),
        (
            {"components": [{"name": "qed", "transform": {"type": "cubic"}}]},
            "components[0].transform.type",
            "unknown transform 'cubic'",
        ),
        (
            {"components": [{"name": "qed"}, {"name": "substructure", "params": {"smarts": "[C"}}]},
            "components[1].params.smarts",
            "'[C' is not a valid SMARTS",
        ),
        (
            {"components": [{"name": "substructure", "params": {"smarts": ["C", "c1cc"]}}]},
            "components[0].params.smarts[1]",
            "not a valid SMARTS",
        ),
        (
            {"components": [{"name": "similarity", "params": {"smiles": "C1CC("}}]},
            "components[0].params.smiles",
            "'C1CC(' is not a valid SMILES",
        ),
        ({"components": [{"name": "similarity"}]}, "components[0].params.smiles", "is required"),
        (
            {"components": [{"name": "qed", "weight": -1}]},
            "components[0].weight",
            "greater than or equal to 0",
        ),
        ({"components": [{"name": "qed", "weight": float("inf")}]}, "components[0].weight", "finite"),
        ({"components": [{"name": "qed", "weight": float("nan")}]}, "components[0].weight", "finite"),
        ({"components": [{"name": "qed", "weight": "inf"}]}, "components[0].weight", "finite"),
        (
            {"components": [{"name": "qed", "transform": {"type": "linear", "low": 5, "high": 3}}]},
            "components[0].transform.high",
            "low (5) must be less than high (3)",
        ),
        (
            {"components": [{"name": "qed", "transform": {"type": "sigmoid", "low": 2, "high": 2}}]},
            "components[0].transform.high",
            "must be less than high",
        ),
        ({"components": [{"name": "qed"}], "beta": 0}, "beta", "greater than 0"),
        ({"components": [{"name": "qed"}], "beta": -1.5}, "beta", "greater than 0"),
        ({"components": [{"name": "qed"}], "min_reward": -1}, "min_reward", "greater than or equal to 0"),
        ({"components": [{"name": "qed"}], "aggregate": "median"}, "aggregate", "unknown aggregate 'median'"),
        ({"components": []}, "components", "at least 1 item"),
        ({"components": [{"name": "qed", "weight": 0}]}, "components", "weight > 0"),
        ({"components": [{"name": "qed"}], "gamma": 2}, "gamma", "unknown field"),
        ({"components": [{"name": "qed", "colour": "red"}]}, "components[0].colour", "unknown field"),
        ({"components": [{"name": "qed", "params": {"x": 1}}]}, "components[0].params.x", "no parameters"),
        (
            {"components": [{"name": "qed", "transform": {"type": "linear", "low": 0}}]},
            "components[0].transform.high",
            "required by transform 'linear'",
        ),
        (
            {"components": [{"name": "qed", "transform": {"type": "gaussian", "mu": 0, "sigma": 1, "k": 2}}]},
            "components[0].transform.k",
            "not a parameter of transform 'gaussian'",
        ),
        (
            {"components": [{"name": "qed", "transform": {"type": "gaussian", "mu": 0, "sigma": 0}}]},
            "components[0].transform.sigma",
            "greater than 0",
        ),
        (
            {"components": [{"name": "qed", "transform": {"type": "step"}}]},
            "components[0].transform.low",
            "needs low, high or both",
        ),
        ({"components": [{"name": "qed"}], "filters": [{"name": "mw"}]}, "filters[0].min", "needs min, max"),
        (
            {
                "components": [{"name": "qed"}],
                "filters": [{"name": "filter", "params": {"catalogs": ["zinc"]}}],
            },
            "filters[0].params.catalogs[0]",
            "unknown value 'zinc'",
        ),
        (
            {
                "components": [{"name": "qed"}],
                "filters": [{"name": "substructure", "params": {"smarts": "C"}, "max": 1}],
            },
            "filters[0].max",
            "not used",
        ),
        ({"components": [{"name": "filter", "params": {"penalty": 2}}]}, "components[0].params.penalty", "1"),
        ({"components": [{"name": "qed"}], "min_reward": 1e10, "beta": 100}, "min_reward", "overflows"),
        ("{not json", "spec", "not valid JSON"),
        ([1, 2], "spec", "must be a JSON object"),
    ],
)
def test_bad_input_messages(spec: Any, field: str, reason: str) -> None:
    err = _err(spec)
    assert err.field == field, str(err)
    assert reason in err.reason, str(err)
    assert str(err).startswith(f"{field}: ")
    assert "\n" not in str(err)


def test_several_problems_are_counted() -> None:
    err = _err({"components": [{"name": "qed", "weight": -1}], "beta": 0})
    assert "1 more problem" in err.reason
    assert len(err.problems) == 2  # type: ignore[attr-defined]


def test_schema_has_descriptions_and_valid_examples() -> None:
    schema = reward_spec_json_schema()
    examples = schema["examples"]
    assert len(examples) >= 3
    for example in examples:
        parse_reward_spec(example)
    names = {c["name"] for ex in examples for c in ex["components"]}
    assert {"qed", "similarity", "substructure", "seh_proxy", "sa"} <= names
    assert schema["properties"]["beta"]["description"]
    component = schema["$defs"]["ComponentSpec"]
    assert "qed" in component["properties"]["name"]["enum"]
    assert json.dumps(schema)  # serialisable


def test_model_round_trip() -> None:
    spec = parse_reward_spec(RewardSpec.model_json_schema()["examples"][0])
    again = parse_reward_spec(spec.model_dump(mode="json"))
    assert again == spec


def test_spec_module_imports_neither_torch_nor_rdkit() -> None:
    code = (
        "import sys, gfn.rewards.spec as s; "
        "s.parse_reward_spec({'components': [{'name': 'qed'}]}); "
        "bad = [m for m in ('torch', 'rdkit', 'torch_geometric') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT)


def test_api_scoring_path_imports_no_torch() -> None:
    code = (
        "import sys; from gfn.rewards.compose import score_smiles; "
        "score_smiles({'components': [{'name': 'qed'}, {'name': 'sa'}]}, ['CCO']); "
        "assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT)
