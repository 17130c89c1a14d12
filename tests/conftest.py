"""Shared test fixtures: the ../shared reference data (skipped cleanly when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    return Path(os.environ.get("MOLGFN_SHARED_DIR", REPO.parent / "shared"))


@pytest.fixture
def shared_data() -> Path:
    """../shared/data, or skip with the reason."""
    d = shared_dir() / "data"
    if not d.is_dir():
        pytest.skip(f"reference data not found at {d} (set MOLGFN_SHARED_DIR)")
    return d
