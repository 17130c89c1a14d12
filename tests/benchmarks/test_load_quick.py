"""The API load benchmark: its request mix and summary, and a short run end to end (the mix under
load and the database afterwards are checked by tests/reliability/test_api_load.py)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from benchmarks import load
from tests.app.conftest import PG_ADMIN_URL


def test_mix_counts_are_exact_and_in_proportion() -> None:
    assert load.mix_counts(200) == {k: round(200 * w) for k, w in load.MIX.items()}
    for n in (1, 7, 199, 2000):
        counts = load.mix_counts(n)
        assert sum(counts.values()) == n and all(abs(c - n * load.MIX[k]) < 1 for k, c in counts.items())


def test_build_mix_uses_the_targets() -> None:
    targets = load.Targets(job_ids=["a" * 32, "b" * 32], sample_job_ids=["a" * 32], fresh_job_id="a" * 32)
    calls = load.build_mix(200, targets, random.Random(0))
    assert [c.kind for c in calls] != sorted(c.kind for c in calls), "shuffled"
    for c in calls:
        if c.kind in ("get_job", "samples_stored", "samples_fresh"):
            assert c.path.split("/")[2] in targets.job_ids
        if c.kind == "create_job":
            assert c.method == "POST" and c.json is not None and c.json["library"] == "default"
    no_checkpoint = load.Targets(job_ids=["a" * 32], sample_job_ids=["a" * 32], fresh_job_id=None)
    kinds = [c.kind for c in load.build_mix(200, no_checkpoint, random.Random(0))]
    assert "samples_fresh" not in kinds and kinds.count("samples_stored") == 24


def test_summarize() -> None:
    outcomes = [load.Outcome("get_job", 200, 0.010 * (i + 1)) for i in range(100)]
    outcomes.append(load.Outcome("score", None, 2.0, "ReadTimeout"))
    s = load.summarize(outcomes, wall_s=2.0)
    assert s["requests"] == 101 and s["errors"] == 1 and s["throughput_rps"] == 50.5
    assert s["by_kind"]["get_job"] == {"requests": 100, "errors": 0, "p50_ms": 505.0, "p99_ms": 990.1, "max_ms": 1000.0}
    assert list(s["by_kind"]) == ["get_job", "score"]


@pytest.mark.slow
def test_quick_run_writes_the_documented_fields(tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    args = ["--quick", "--requests", "30", "--concurrency", "10", "--out", str(out), "--database-url", PG_ADMIN_URL]
    assert load.main(args) == 0
    r = json.loads(out.read_text())
    assert r["requests"] == 30 and r["errors"] == 0 and r["concurrency"] == 10
    assert r["throughput_rps"] > 0 and 0 < r["p50_ms"] <= r["p99_ms"] <= r["max_ms"]
    assert set(r["by_kind"]) == set(load.MIX)
    assert len(r["loadavg_before"]) == 3 and r["backend"] in ("postgresql", "sqlite")
