"""Fixtures for the block-library tests."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gfn.chem.blocks import BlockLibrary, default_library


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` next to the repository root (override with ``MOLGFN_SHARED_DIR``)."""
    env = os.environ.get("MOLGFN_SHARED_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared"


@pytest.fixture(scope="session")
def original_105_path(shared_dir: Path) -> Path:
    """The original GFlowNet 105-block file; skips when ``shared/`` is not there."""
    path = shared_dir / "data" / "blocks_PDB_105.json"
    if not path.is_file():
        pytest.skip(f"original block library not available: {path} is absent (set MOLGFN_SHARED_DIR)")
    return path


@pytest.fixture(scope="session")
def default_lib() -> BlockLibrary:
    return default_library()


@pytest.fixture(scope="session")
def default_json() -> dict[str, Any]:
    """The shipped library file as parsed JSON (read from the package, not through the loader)."""
    from importlib import resources

    data: dict[str, Any] = json.loads(resources.files("gfn").joinpath("data/default_blocks.json").read_text())
    return data


@pytest.fixture
def write_json(tmp_path: Path) -> Callable[[Any], Path]:
    """Write an object (or raw text) to a fresh file under tmp_path and return its path."""
    counter = iter(range(10_000))

    def _write(content: Any, suffix: str = ".json") -> Path:
        path = tmp_path / f"lib{next(counter)}{suffix}"
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        return path

    return _write
