"""A usage error is one line on stderr and exit status 2, also when run as ``python -m app.cli``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_python_m_app_cli_usage_error_is_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "sample", "--run", str(tmp_path / "missing"), "--n", "0", "--out", "x.csv"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("molgfn sample: error: ") and done.stderr.count("\n") == 1
