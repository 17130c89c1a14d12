"""The sEH benchmark through the service: its statistics, and the quick mode end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.seh_service import compare, kolmogorov_sf, ks_2samp, summary

REPO = Path(__file__).resolve().parents[2]
SETS = ("served", "served_samples", "policy")
STATS = {"n", "distinct", "mean", "std", "q10", "q50", "q90", "top10", "top100", "repeated_fraction"}
COMPARISON = {
    "ks_statistic",
    "ks_pvalue",
    "ks_direction",
    "mean_diff",
    "mean_diff_se",
    "mean_tolerance",
    "follows_policy",
    "loses_quality",
}


def test_kolmogorov_distribution_critical_values() -> None:
    # the classic asymptotic critical values: P(K > 1.358) = 0.05, P(K > 1.628) = 0.01
    assert kolmogorov_sf(1.3581) == pytest.approx(0.05, abs=1e-3)
    assert kolmogorov_sf(1.6276) == pytest.approx(0.01, abs=2e-4)
    assert kolmogorov_sf(0.0) == 1.0 and kolmogorov_sf(10.0) == pytest.approx(0.0, abs=1e-12)


def test_ks_statistic_with_ties_and_direction() -> None:
    d, p, signed = ks_2samp([1.0, 2.0, 2.0, 3.0], [1.0, 2.0, 2.0, 3.0])
    assert d == 0.0 and p == 1.0
    d, p, signed = ks_2samp([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    assert d == 1.0 and signed == 1.0  # the first sample is lower everywhere
    # F_a - F_b: 2/4 - 0 at x = 1, 3/4 - 1/2 at x = 2, 0 at x = 3
    d, _, signed = ks_2samp([1.0, 1.0, 2.0, 3.0], [2.0, 3.0])
    assert d == pytest.approx(0.5) and signed == pytest.approx(0.5)


def test_compare_flags_a_lower_served_distribution() -> None:
    rng = np.random.default_rng(0)
    policy = rng.normal(5.0, 1.0, 1000).tolist()
    same = compare(rng.normal(5.0, 1.0, 1000).tolist(), policy)
    assert same["follows_policy"] and not same["loses_quality"] and same["ks_pvalue"] > 0.01
    worse = compare(rng.normal(4.7, 1.0, 1000).tolist(), policy)
    assert worse["loses_quality"] and not worse["follows_policy"] and worse["ks_direction"] == "served lower"
    better = compare(rng.normal(5.3, 1.0, 1000).tolist(), policy)
    assert not better["loses_quality"] and not better["follows_policy"]


def test_summary_top_k_over_distinct_molecules() -> None:
    s = summary(["a", "a", "b", "c"], [9.0, 9.0, 5.0, 1.0])
    assert s["n"] == 4 and s["distinct"] == 3 and s["mean"] == 6.0
    assert s["top10"] == pytest.approx(5.0) and s["q50"] == pytest.approx(7.0)


@pytest.mark.slow
def test_quick_run_compares_served_and_policy(shared_data: Path, tmp_path: Path) -> None:
    for name in ("blocks_PDB_105.json", "seh_proxy.npz"):
        if not (shared_data / name).is_file():
            pytest.skip(f"{name} not found in {shared_data}")
    out = tmp_path / "seh_service_quick.json"
    env = dict(os.environ, MOLGFN_SHARED_DIR=str(shared_data.parent))
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.seh_service", "--quick", "--out", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    r = json.loads(out.read_text())
    lib = r["library"]
    assert lib["same_as_offline"] and lib["run_library_hash_matches"] and lib["n_block_types"] == 105
    assert r["job"]["status"] == "succeeded" and r["job"]["steps"] == r["settings"]["steps"]
    for name in SETS:
        assert STATS <= set(r[name]), name
        assert r[name]["n"] > 0 and r[name]["q10"] <= r[name]["q50"] <= r[name]["q90"]
    assert r["served"]["n"] == r["settings"]["molecules"] == r["policy"]["n"] + r["policy"]["unscored"]
    assert len(r["served"]["batches"]) >= 2  # 300 molecules, at most 150 per request
    # every fresh sample the service drew was stored (counted in times_sampled), none lost or doubled
    assert r["served_samples"]["n"] <= r["served_samples"]["n_sampled_reported"]
    assert r["served_samples"]["n"] >= r["served"]["n"]
    assert r["policy"]["checkpoint_step"] == r["job"]["checkpoint_step"]
    for name in ("served_vs_policy", "served_samples_vs_policy"):
        c = r["comparisons"][name]
        assert COMPARISON <= set(c), name
        assert 0 <= c["ks_statistic"] <= 1 and 0 <= c["ks_pvalue"] <= 1
    assert isinstance(r["service_loses_quality"], bool) and isinstance(r["served_follows_policy"], bool)
    assert r["stored_scores_match_offline"]["ok"]
    d = r["diverse_batch"]
    assert 0 < d["items"] <= d["n"] and d["max_similarity"] == 0.7 and 0 <= d["mean_pairwise_similarity"] <= 1
