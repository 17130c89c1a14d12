"""Shared fixtures for the reward tests: the read-only reference data in ../shared (optional)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def shared_dir() -> Path | None:
    """``$MOLGFN_SHARED_DIR`` or ``<repo>/../shared``; None when absent."""
    env = os.environ.get("MOLGFN_SHARED_DIR")
    for candidate in ([Path(env)] if env else []) + [REPO_ROOT.parent / "shared"]:
        if (candidate / "data").is_dir():
            return candidate
    return None


def shared_file(name: str) -> Path:
    """A file of shared/data, or skip the test with the reason."""
    root = shared_dir()
    if root is None:
        pytest.skip("reference data absent: set MOLGFN_SHARED_DIR or provide ../shared")
    path = root / "data" / name
    if not path.is_file():
        pytest.skip(f"reference file {path} absent")
    return path


@pytest.fixture
def seh_weights() -> Path:
    return shared_file("seh_proxy.npz")
