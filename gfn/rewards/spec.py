"""Reward specs: the declarative JSON a user sends to say what a good molecule is.

A spec lists components (a molecular property or model score, each mapped to [0, 1] by a transform
and weighted), how to aggregate them, a floor ``min_reward`` and an exponent ``beta``. The training
reward is ``max(aggregate, min_reward) ** beta``.

This module is imported by the API process, so it imports neither torch nor RDKit at module level;
SMILES/SMARTS parameters are checked with RDKit imported lazily inside the validators. Every
problem becomes one message naming its field, e.g. ``components[1].params.smarts: ...``, through
:func:`parse_reward_spec` (which raises :class:`gfn.errors.SpecError`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, Literal, cast, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from gfn.errors import SpecError

ComponentName = Literal[
    "qed", "sa", "logp", "mw", "tpsa", "hbd", "hba", "rotatable_bonds", "rings", "aromatic_rings",
    "fsp3", "similarity", "substructure", "filter", "proxy", "seh_proxy",
]  # fmt: skip
TransformType = Literal["identity", "linear", "sigmoid", "reverse_sigmoid", "double_sigmoid", "step", "gaussian"]
Aggregate = Literal["geometric_mean", "arithmetic_mean", "product", "min"]

COMPONENT_NAMES: tuple[str, ...] = get_args(ComponentName)
TRANSFORM_TYPES: tuple[str, ...] = get_args(TransformType)
AGGREGATES: tuple[str, ...] = get_args(Aggregate)
#: Components whose raw value is a pass (1) / fail (``penalty``) check rather than a measurement.
CHECK_COMPONENTS = frozenset({"substructure", "filter"})
DEFAULT_MIN_REWARD = 1e-8
MAX_COMPONENTS = 32
MAX_PATTERNS = 100
MAX_PATTERN_LENGTH = 2000

_COMPONENT_DOCS = {
    "qed": "quantitative estimate of drug-likeness (Bickerton 2012), in [0, 1]",
    "sa": "synthetic accessibility score (Ertl & Schuffenhauer 2009): 1 easy .. 10 hard",
    "logp": "Crippen logP",
    "mw": "average molecular weight (Da)",
    "tpsa": "topological polar surface area (A^2)",
    "hbd": "hydrogen-bond donors (RDKit NumHDonors)",
    "hba": "hydrogen-bond acceptors (RDKit NumHAcceptors)",
    "rotatable_bonds": "rotatable bonds",
    "rings": "rings (SSSR count)",
    "aromatic_rings": "aromatic rings",
    "fsp3": "fraction of sp3 carbons",
    "similarity": "Tanimoto similarity (Morgan fingerprints) to reference SMILES, in [0, 1]",
    "substructure": "1 if the SMARTS check passes, else params.penalty",
    "filter": "1 if the molecule passes PAINS / Brenk / Lipinski checks, else params.penalty",
    "proxy": "prediction of a model trained with `molgfn proxy train`",
    "seh_proxy": "the pretrained sEH binding proxy of Bengio et al. 2021 (score, higher is better)",
}


class SubfieldError(ValueError):
    """A validation problem below the field being validated (``subpath`` like ``params.smarts``)."""

    def __init__(self, subpath: str, reason: str) -> None:
        super().__init__(f"{subpath}: {reason}" if subpath else reason)
        self.subpath = subpath
        self.reason = reason


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------------------------------
# Component parameters (validated inside ComponentSpec.params, one model per component name)
# --------------------------------------------------------------------------------------------------


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _check_patterns(values: list[str], kind: Literal["smiles", "smarts"], was_str: bool) -> None:
    """Raise SubfieldError('' or '[i]', ...) for the first pattern RDKit cannot parse."""
    from rdkit import Chem, rdBase

    parse = Chem.MolFromSmiles if kind == "smiles" else Chem.MolFromSmarts
    with rdBase.BlockLogs():
        for i, text in enumerate(values):
            where = "" if was_str else f"[{i}]"
            if not text.strip():
                raise SubfieldError(where, f"empty {kind.upper()}")
            if len(text) > MAX_PATTERN_LENGTH:
                raise SubfieldError(where, f"longer than {MAX_PATTERN_LENGTH} characters")
            mol = parse(text)
            if mol is None or mol.GetNumAtoms() == 0:
                raise SubfieldError(where, f"{text!r} is not a valid {kind.upper()}")


def _validated_patterns(data: Any, handler: Any, kind: Literal["smiles", "smarts"]) -> Any:
    """A wrap validator's body: validate the model, then parse its ``kind`` list with RDKit, a bad
    entry reported as ``kind`` (given as one string) or ``kind[i]``."""
    was_str = isinstance(data, Mapping) and isinstance(data.get(kind), str)
    model = handler(data)
    try:
        _check_patterns(getattr(model, kind), kind, was_str)
    except SubfieldError as exc:
        raise SubfieldError(kind + exc.subpath, exc.reason) from None
    return model


class NoParams(_Strict):
    """Descriptor components take no parameters."""


class SimilarityParams(_Strict):
    """Tanimoto similarity of Morgan fingerprints to one or more reference molecules."""

    smiles: list[str] = Field(
        min_length=1, max_length=MAX_PATTERNS, description="reference SMILES (a string or a list)"
    )
    radius: int = Field(default=2, ge=0, le=6, description="Morgan radius (2 ~ ECFP4)")
    n_bits: int = Field(default=2048, ge=64, le=16384, description="fingerprint length")
    aggregate: Literal["max", "mean"] = Field(
        default="max", description="over several references: the best or the mean similarity"
    )

    @field_validator("smiles", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return _as_list(v)

    @model_validator(mode="wrap")
    @classmethod
    def _parse(cls, data: Any, handler: Any) -> Any:
        return _validated_patterns(data, handler, "smiles")


class _CheckParams(_Strict):
    penalty: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        allow_inf_nan=False,
        description="component value when the check fails (1 when it passes): a soft penalty factor",
    )
    hard: bool = Field(default=False, description="if true, failing the check sets the whole reward to min_reward")


class SubstructureParams(_CheckParams):
    """A SMARTS check: ``forbid`` fails if any pattern matches, ``require`` unless all match."""

    smarts: list[str] = Field(min_length=1, max_length=MAX_PATTERNS, description="SMARTS (a string or a list)")
    mode: Literal["forbid", "require"] = "forbid"

    @field_validator("smarts", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return _as_list(v)

    @model_validator(mode="wrap")
    @classmethod
    def _parse(cls, data: Any, handler: Any) -> Any:
        return _validated_patterns(data, handler, "smarts")


CatalogName = Literal["pains", "brenk", "lipinski"]


def _default_catalogs() -> list[CatalogName]:
    return ["pains"]


class FilterParams(_CheckParams):
    """Medicinal-chemistry filters: PAINS (A/B/C) and Brenk catalogs, Lipinski's rule of five."""

    catalogs: list[CatalogName] = Field(
        default_factory=_default_catalogs, min_length=1, description="checks that must all pass"
    )
    max_violations: int = Field(
        default=1, ge=0, le=3, description="Lipinski: rule-of-five violations allowed (classically 1)"
    )


class ProxyParams(_Strict):
    """A regression model trained with ``molgfn proxy train``."""

    model: str = Field(min_length=1, description="directory written by `molgfn proxy train`")
    normalize: bool = Field(
        default=False,
        description="map predictions to [0, 1] with the training targets' min and max (clipped)",
    )


class SehProxyParams(_Strict):
    """The pretrained sEH proxy; weights are read from a local file, never downloaded."""

    weights: str | None = Field(default=None, description="path to seh_proxy.npz (default: $MOLGFN_SEH_PROXY_WEIGHTS)")


PARAMS_MODELS: dict[str, type[_Strict]] = {
    **{name: NoParams for name in COMPONENT_NAMES},
    "similarity": SimilarityParams,
    "substructure": SubstructureParams,
    "filter": FilterParams,
    "proxy": ProxyParams,
    "seh_proxy": SehProxyParams,
}


def _validate_params(name: str, params: Mapping[str, Any], filter_mode: bool = False) -> dict[str, Any]:
    """Validate ``params`` for component ``name``; return them with defaults filled in."""
    model_cls = PARAMS_MODELS[name]
    if filter_mode and name in CHECK_COMPONENTS:
        for key in ("penalty", "hard"):
            if key in params:
                raise SubfieldError(key, "not used in filters (a failed filter always floors the reward)")
    try:
        model = model_cls.model_validate(dict(params))
    except ValidationError as exc:
        path, reason = _first_error(exc, model_cls)
        raise SubfieldError(path, reason) from None
    except SubfieldError:
        raise
    dumped = model.model_dump()
    if filter_mode and name in CHECK_COMPONENTS:
        dumped.pop("penalty", None)
        dumped.pop("hard", None)
    return dumped


# --------------------------------------------------------------------------------------------------
# Transforms
# --------------------------------------------------------------------------------------------------

#: Parameters each transform takes: (required, optional with defaults).
TRANSFORM_PARAMS: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "identity": ((), {}),
    "linear": (("low", "high"), {"clip": True}),
    "sigmoid": (("low", "high"), {"k": 0.5}),
    "reverse_sigmoid": (("low", "high"), {"k": 0.5}),
    "double_sigmoid": (("low", "high"), {"coef_div": 100.0, "coef_si": 150.0, "coef_se": 150.0}),
    "step": ((), {"low": None, "high": None}),
    "gaussian": (("mu", "sigma"), {}),
}
_TRANSFORM_FIELDS = ("low", "high", "k", "mu", "sigma", "coef_div", "coef_si", "coef_se", "clip")


class TransformSpec(_Strict):
    """Maps a component's raw value to a score, usually in [0, 1] (formulas: gfn.rewards.transforms).

    Parameters by type: ``linear`` low, high[, clip]; ``sigmoid``/``reverse_sigmoid`` low, high[, k];
    ``double_sigmoid`` low, high[, coef_div, coef_si, coef_se]; ``step`` low and/or high;
    ``gaussian`` mu, sigma; ``identity`` none.
    """

    type: TransformType = Field(default="identity", description="transform name")
    low: float | None = Field(default=None, allow_inf_nan=False, description="lower bound / lower edge")
    high: float | None = Field(default=None, allow_inf_nan=False, description="upper bound / upper edge")
    k: float | None = Field(
        default=None, gt=0, allow_inf_nan=False, description="sigmoid steepness (REINVENT's k, default 0.5)"
    )
    mu: float | None = Field(default=None, allow_inf_nan=False, description="gaussian centre")
    sigma: float | None = Field(default=None, gt=0, allow_inf_nan=False, description="gaussian width")
    coef_div: float | None = Field(default=None, gt=0, allow_inf_nan=False, description="double_sigmoid divisor")
    coef_si: float | None = Field(default=None, gt=0, allow_inf_nan=False, description="double_sigmoid upper slope")
    coef_se: float | None = Field(default=None, gt=0, allow_inf_nan=False, description="double_sigmoid lower slope")
    clip: bool | None = Field(default=None, description="linear: clip to [0, 1] (default true)")

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"type": "sigmoid", "low": 2.0, "high": 4.0, "k": 0.5},
                {"type": "double_sigmoid", "low": 200, "high": 500},
                {"type": "gaussian", "mu": 2.5, "sigma": 1.0},
            ]
        },
    )

    @model_validator(mode="after")
    def _check_params(self) -> TransformSpec:
        required, optional = TRANSFORM_PARAMS[self.type]
        allowed = set(required) | set(optional)
        for name in _TRANSFORM_FIELDS:
            if getattr(self, name) is not None and name not in allowed:
                takes = ", ".join(list(required) + list(optional)) or "no parameters"
                raise SubfieldError(name, f"not a parameter of transform {self.type!r} (it takes {takes})")
        for name in required:
            if getattr(self, name) is None:
                raise SubfieldError(name, f"required by transform {self.type!r}")
        for name, default in optional.items():
            if getattr(self, name) is None and default is not None:
                setattr(self, name, default)
        if self.type == "step" and self.low is None and self.high is None:
            raise SubfieldError("low", "transform 'step' needs low, high or both")
        if self.low is not None and self.high is not None and self.low >= self.high:
            raise SubfieldError("high", f"low ({self.low:g}) must be less than high ({self.high:g})")
        return self


# --------------------------------------------------------------------------------------------------
# Components, filters and the spec
# --------------------------------------------------------------------------------------------------


def _identity() -> TransformSpec:
    return TransformSpec(type="identity")


class ComponentSpec(_Strict):
    """One scored property: raw value -> transform -> weighted into the aggregate."""

    name: ComponentName = Field(description="component: " + "; ".join(f"`{k}` {v}" for k, v in _COMPONENT_DOCS.items()))
    params: dict[str, Any] = Field(
        default_factory=dict,
        validate_default=True,
        description="component parameters (similarity: smiles, radius, n_bits, aggregate; substructure: "
        "smarts, mode, penalty, hard; filter: catalogs, max_violations, penalty, hard; proxy: model, "
        "normalize; seh_proxy: weights)",
    )
    transform: TransformSpec = Field(default_factory=_identity, description="raw value -> score")
    weight: float = Field(
        default=1.0,
        ge=0.0,
        allow_inf_nan=False,
        description="relative weight in the aggregate (0: report only)",
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"name": "qed"},
                {"name": "sa", "transform": {"type": "reverse_sigmoid", "low": 2.5, "high": 5.0}},
                {
                    "name": "substructure",
                    "params": {"smarts": "[N+](=O)[O-]", "mode": "forbid", "hard": True},
                },
            ]
        },
    )

    @field_validator("params")
    @classmethod
    def _check_params(cls, v: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        name = info.data.get("name")
        if name is None:  # the name itself is invalid: reported on its own
            return v
        return _validate_params(name, v)


class FilterSpec(_Strict):
    """A hard filter: a molecule that fails it gets ``min_reward`` whatever its components.

    For ``substructure`` and ``filter`` the check itself decides (no min/max); for any other
    component the raw value must lie within [min, max] (give at least one).
    """

    name: ComponentName = Field(description="component whose raw value is tested")
    params: dict[str, Any] = Field(default_factory=dict, validate_default=True, description="component parameters")
    min: float | None = Field(default=None, allow_inf_nan=False, description="lowest allowed raw value")
    max: float | None = Field(default=None, allow_inf_nan=False, description="highest allowed raw value")

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"name": "mw", "max": 500}, {"name": "filter", "params": {"catalogs": ["pains"]}}]
        },
    )

    @field_validator("params")
    @classmethod
    def _check_params(cls, v: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        name = info.data.get("name")
        if name is None:
            return v
        return _validate_params(name, v, filter_mode=True)

    @model_validator(mode="after")
    def _check_bounds(self) -> FilterSpec:
        if self.name in CHECK_COMPONENTS:
            for key in ("min", "max"):
                if getattr(self, key) is not None:
                    raise SubfieldError(key, f"not used with {self.name!r} (the check passes or fails)")
        elif self.min is None and self.max is None:
            raise SubfieldError("min", f"a {self.name!r} filter needs min, max or both")
        elif self.min is not None and self.max is not None and self.min > self.max:
            raise SubfieldError("max", f"min ({self.min:g}) must not exceed max ({self.max:g})")
        return self


_EXAMPLES: list[dict[str, Any]] = [
    {  # drug-likeness
        "components": [
            {"name": "qed", "weight": 2.0},
            {"name": "sa", "transform": {"type": "reverse_sigmoid", "low": 2.0, "high": 6.0, "k": 0.5}},
            {"name": "mw", "transform": {"type": "double_sigmoid", "low": 200, "high": 500}},
            {"name": "logp", "transform": {"type": "gaussian", "mu": 2.5, "sigma": 1.5}},
        ],
        "aggregate": "geometric_mean",
        "filters": [{"name": "filter", "params": {"catalogs": ["pains"]}}],
        "beta": 4.0,
    },
    {  # similarity to a lead (celecoxib) without a nitro group
        "components": [
            {
                "name": "similarity",
                "params": {"smiles": "Cc1ccc(-c2cc(C(F)(F)F)nn2-c2ccc(S(N)(=O)=O)cc2)cc1", "radius": 2},
                "transform": {"type": "linear", "low": 0.2, "high": 0.7},
                "weight": 2.0,
            },
            {"name": "substructure", "params": {"smarts": "[N+](=O)[O-]", "mode": "forbid", "hard": True}},
            {"name": "qed"},
        ],
        "aggregate": "geometric_mean",
        "beta": 8.0,
    },
    {  # an sEH binder that is easy to make
        "components": [
            {"name": "seh_proxy", "transform": {"type": "linear", "low": 0.0, "high": 8.0}, "weight": 2.0},
            {"name": "sa", "transform": {"type": "reverse_sigmoid", "low": 2.5, "high": 5.0, "k": 0.5}},
        ],
        "aggregate": "geometric_mean",
        "beta": 10.0,
    },
    {  # the paper's reward R = (max(score, 0.1) / 8) ** 10
        "components": [{"name": "seh_proxy", "transform": {"type": "linear", "low": 0, "high": 8, "clip": False}}],
        "min_reward": 0.0125,
        "beta": 10.0,
    },
]


class RewardSpec(_Strict):
    """What a good molecule is: components, their aggregation, a floor and an exponent.

    Training reward: ``max(aggregate(transformed components), min_reward) ** beta``; a molecule that
    does not parse or fails a hard filter gets ``min_reward ** beta``.
    """

    components: list[ComponentSpec] = Field(min_length=1, max_length=MAX_COMPONENTS, description="scored properties")
    aggregate: Aggregate = Field(
        default="geometric_mean",
        description="weighted geometric_mean exp(sum w log s / sum w), arithmetic_mean sum w s / sum w, "
        "product prod s^w, or min (over components with weight > 0)",
    )
    beta: float = Field(default=1.0, gt=0.0, allow_inf_nan=False, description="reward exponent (sharpness)")
    min_reward: float = Field(
        default=DEFAULT_MIN_REWARD,
        ge=0.0,
        allow_inf_nan=False,
        description="floor applied before the exponent",
    )
    filters: list[FilterSpec] = Field(
        default_factory=list, max_length=MAX_COMPONENTS, description="hard filters (fail -> min_reward)"
    )

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": cast(Any, _EXAMPLES)})

    @model_validator(mode="after")
    def _check_weights(self) -> RewardSpec:
        if not sum(c.weight for c in self.components) > 0.0:
            raise SubfieldError("components", "at least one component needs a weight > 0")
        try:
            floor = self.min_reward**self.beta
        except OverflowError:
            floor = math.inf
        if not math.isfinite(floor):
            raise SubfieldError(
                "min_reward",
                f"min_reward ** beta overflows (min_reward {self.min_reward}, "
                f"beta {self.beta}); use a floor below 1 or a smaller beta",
            )
        return self


# --------------------------------------------------------------------------------------------------
# Parsing with one clear message per problem
# --------------------------------------------------------------------------------------------------


def _loc_to_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


def _allowed_fields(loc: tuple[int | str, ...], root: type[BaseModel]) -> tuple[str, ...]:
    """Field names of the model that holds ``loc`` (for 'unknown field' messages)."""
    parent = [p for p in loc[:-1] if isinstance(p, str)]
    last = parent[-1] if parent else ""
    nested: dict[str, type[BaseModel]] = {
        "components": ComponentSpec, "filters": FilterSpec, "transform": TransformSpec,
    }  # fmt: skip
    return tuple(nested.get(last, root).model_fields)


def _reason(err: Mapping[str, Any], loc: tuple[int | str, ...], root: type[BaseModel]) -> str:
    kind = err.get("type", "")
    value = err.get("input")
    last = loc[-1] if loc else ""
    if kind == "literal_error":
        expected = str(err.get("ctx", {}).get("expected", ""))
        what = {"name": "component", "type": "transform", "aggregate": "aggregate"}.get(str(last), "value")
        return f"unknown {what} {value!r} (expected one of {expected})"
    if kind == "extra_forbidden":
        allowed = _allowed_fields(loc, root)
        return f"unknown field (allowed: {', '.join(allowed)})" if allowed else "no parameters allowed"
    if kind == "missing":
        return "is required"
    if kind == "finite_number":
        return f"must be a finite number (got {value!r})"
    msg = str(err.get("msg", "invalid"))
    for prefix in ("Input should ", "List should ", "String should ", "Value should "):
        if msg.startswith(prefix):
            msg = "must " + msg[len(prefix) :]
    if kind in {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}:
        msg += f" (got {value!r})"
    return msg


def _first_error(exc: ValidationError, root: type[BaseModel]) -> tuple[str, str]:
    return _errors(exc, root)[0]


def _errors(exc: ValidationError, root: type[BaseModel]) -> list[tuple[str, str]]:
    """(field path, reason) for every error of ``exc``; sub-paths of SubfieldErrors appended."""
    out: list[tuple[str, str]] = []
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        cause = err.get("ctx", {}).get("error") if err.get("type") == "value_error" else None
        if isinstance(cause, SubfieldError):
            sub = cause.subpath
            path = _loc_to_path(loc)
            if sub:
                joiner = "" if sub.startswith("[") or not path else "."
                path = path + joiner + sub
            out.append((path or "spec", cause.reason))
        else:
            out.append((_loc_to_path(loc) or "spec", _reason(err, loc, root)))
    return out


def parse_reward_spec(obj: RewardSpec | Mapping[str, Any] | str | bytes) -> RewardSpec:
    """Validate a spec (model, mapping or JSON text) or raise :class:`SpecError` naming the field.

    With several problems the message reports the first and counts the others; all of them are in
    the exception's ``problems`` attribute as ``(field, reason)`` pairs.
    """
    if isinstance(obj, RewardSpec):
        return obj
    if isinstance(obj, str | bytes):
        try:
            obj = json.loads(obj)
        except json.JSONDecodeError as exc:
            raise SpecError("spec", f"not valid JSON: {exc}") from None
    if not isinstance(obj, Mapping):
        raise SpecError("spec", f"must be a JSON object, got {type(obj).__name__}")
    try:
        return RewardSpec.model_validate(obj)
    except ValidationError as exc:
        problems = _errors(exc, RewardSpec)
        field, reason = problems[0]
        if len(problems) > 1:
            reason += f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})"
        error = SpecError(field, reason)
        error.problems = problems  # type: ignore[attr-defined]
        raise error from None


def reward_spec_json_schema() -> dict[str, Any]:
    """JSON schema of :class:`RewardSpec` (with descriptions and examples), e.g. for docs."""
    return RewardSpec.model_json_schema()
