"""Reward specs over HTTP: server-side references resolved, then validated up front.

Two component parameters name files on the server, and a client must not choose server paths:

* ``seh_proxy``: ``params.weights`` is refused over HTTP; the server's ``MOLGFN_SEH_PROXY_WEIGHTS``
  is filled in (when unset, the spec is refused at POST time, naming the component);
* ``proxy``: ``params.model`` is the **id of a proxy trained with POST /proxies**; it is replaced by
  that model's directory under the data directory.

Jobs store the spec as posted; the worker resolves it again the same way before training.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from app.db.models import ProxyModel
from app.db.session import Database
from app.errors import InvalidInput
from app.jsonguard import long_string
from app.settings import Settings
from gfn.errors import GfnError

#: Components whose scoring imports torch: never built in the API process.
TORCH_COMPONENTS = frozenset({"proxy"})


def _entries(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for key in ("components", "filters"):
        items = spec.get(key)
        if isinstance(items, list):
            out += [(f"{key}[{i}]", item) for i, item in enumerate(items) if isinstance(item, dict)]
    return out


def component_names(spec: Any) -> set[str]:
    """Names of the components and filters of a (raw) spec."""
    if not isinstance(spec, dict):
        return set()
    return {str(item.get("name")) for _, item in _entries(spec)}


def resolve_refs(reward: Any, settings: Settings, db: Database, prefix: str = "reward") -> Any:
    """A copy of ``reward`` with server-side references resolved (see the module docstring)."""
    if not isinstance(reward, dict):
        return reward
    spec = copy.deepcopy(reward)
    for where, item in _entries(spec):
        name = item.get("name")
        params = item.get("params")
        if params is None:
            params = {}
        if not isinstance(params, dict):
            continue
        if name == "seh_proxy":
            if "weights" in params:
                raise InvalidInput(
                    f"{prefix}.{where}.params.weights",
                    "not accepted over HTTP: the server's MOLGFN_SEH_PROXY_WEIGHTS is used",
                )
            if settings.seh_proxy_weights:
                params["weights"] = str(Path(settings.seh_proxy_weights).expanduser().resolve())
            item["params"] = params
        elif name == "proxy":
            ref = params.get("model")
            with db.read() as session:
                row = session.get(ProxyModel, ref) if isinstance(ref, str) else None
            if row is None:
                raise InvalidInput(
                    f"{prefix}.{where}.params.model",
                    f"no proxy with id {ref!r} (train one with POST /proxies and use its id)",
                )
            if row.model_path is None:
                raise InvalidInput(
                    f"{prefix}.{where}.params.model",
                    f"proxy {ref} is not trained yet (see its job {row.job_id})",
                )
            params["model"] = str((Path(settings.data_dir) / row.model_path).resolve())
            item["params"] = params
    return spec


def _prefixed(prefix: str, exc: GfnError) -> InvalidInput:
    if exc.field in ("spec", prefix):
        return InvalidInput(prefix, exc.reason)
    if exc.field.startswith(prefix + "."):
        return InvalidInput(exc.field, exc.reason)
    return InvalidInput(f"{prefix}.{exc.field}", exc.reason)


def validate(reward: Any, settings: Settings, db: Database, prefix: str = "reward") -> tuple[dict[str, Any], Any]:
    """Check size, resolve references, parse and (unless it needs torch) build the reward function.

    Returns ``(resolved spec dict, parsed RewardSpec)``; every problem is an :class:`InvalidInput`
    naming the field under ``prefix``.
    """
    import json

    size = len(json.dumps(reward, separators=(",", ":")))
    if size > settings.max_spec_bytes:
        raise InvalidInput(prefix, f"spec is {size} bytes; the limit is {settings.max_spec_bytes} (max_spec_bytes)")
    if isinstance(reward, dict):
        n_items = sum(len(v) for k in ("components", "filters") if isinstance(v := reward.get(k), list))
        if n_items > settings.max_spec_components:
            raise InvalidInput(
                f"{prefix}.components",
                f"{n_items} components and filters; at most {settings.max_spec_components} (max_spec_components)",
            )
    where = long_string(reward, settings.max_smiles_length, prefix)
    if where is not None:
        raise InvalidInput(where, f"longer than {settings.max_smiles_length} characters (max_smiles_length)")
    resolved = resolve_refs(reward, settings, db, prefix)
    from gfn.rewards.spec import parse_reward_spec  # torch-free by design

    try:
        spec = parse_reward_spec(resolved)
        if not component_names(resolved) & TORCH_COMPONENTS:
            from gfn.rewards.compose import build_reward  # RDKit + numpy only

            build_reward(spec, cache_size=1)  # build-time problems: a missing weights file, …
    except GfnError as exc:
        raise _prefixed(prefix, exc) from None
    except ValidationError as exc:  # a parameter problem the parser let through to build time
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise InvalidInput(prefix, f"component parameters: {where}: {err['msg']}".replace(": : ", ": ")) from None
    return resolved, spec
