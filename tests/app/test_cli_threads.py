"""The CLI keeps numpy's BLAS to one thread unless the environment says otherwise."""

from __future__ import annotations

import os
import subprocess
import sys


def _threads_seen(env: dict[str, str]) -> str:
    code = "import app.cli, os; print(os.environ['OPENBLAS_NUM_THREADS'])"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_cli_defaults_openblas_to_one_thread() -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    assert _threads_seen(env) == "1"


def test_cli_respects_an_explicit_setting() -> None:
    assert _threads_seen({**os.environ, "OPENBLAS_NUM_THREADS": "3"}) == "3"
