"""The sEH reference benchmark: its bookkeeping, and a few training steps end to end."""

from __future__ import annotations

import json
import math
import signal
import threading
from pathlib import Path

import pytest

from benchmarks._common import write_json
from benchmarks.seh import FIELDS, Visited, curve_schedule, paper_reward_spec, plot, run_seh, stop_handler


def test_curve_schedule() -> None:
    assert curve_schedule(10_000)[:8] == [100, 200, 300, 500, 700, 1000, 2000, 3000]


def test_visited_counts_repeats_modes_and_scaffolds() -> None:
    v = Visited()
    v.add("c1ccccc1CCO", 8.5)
    v.add("c1ccccc1CCO", 8.5)  # a repeat: counted as visited, not as unique
    v.add("c1ccccc1CCCO", 8.2)  # same scaffold as the first
    v.add("O=C(O)C1CCCCC1", 7.5)  # a different scaffold, below 8
    v.add(None, None)  # an invalid trajectory
    v.add("CCO", 2.0)
    p = v.point()
    assert v.molecules == 6 and v.invalid == 1 and p["unique"] == 4
    assert p["top10"] == pytest.approx((8.5 + 8.2 + 7.5 + 2.0) / 4, abs=1e-4)
    assert p["scaffolds_8"] == 1  # benzene only (the cyclohexane one scores 7.5)
    sim = v.mean_similarity(["c1ccccc1CCO", "c1ccccc1CCCO"])
    assert p["modes_7"] == (2 if sim >= 0.7 else 3)


@pytest.mark.slow
def test_seh_run_writes_the_documented_fields(shared_data: Path, tmp_path: Path) -> None:
    for name in ("blocks_PDB_105.json", "seh_proxy.npz"):
        if not (shared_data / name).is_file():
            pytest.skip(f"{name} not found in {shared_data}")
    run = run_seh(shared_data, "tb", batch_size=8, max_molecules=120, seed=0, profile_steps=1, log=lambda _: None)
    out = tmp_path / "seh_tb.json"
    write_json(out, run.points)
    points = json.loads(out.read_text())
    assert isinstance(points, list)
    assert points[0]["molecules"] >= 100 and points[-1]["molecules"] >= 120
    for p in points:
        assert set(FIELDS) <= set(p)
        assert p["loss"] == "tb" and p["seconds"] > 0
        assert 0 < p["unique"] <= p["molecules"]
        assert p["top10"] >= p["top100"] >= p["top1000"]
        assert isinstance(p["modes_7"], int) and isinstance(p["scaffolds_8"], int)
        assert 0 <= p["top1000_mean_similarity"] <= 1 and 0 <= p["top1000_mean_similarity_rdkit"] <= 1
        assert isinstance(p["modes_7_rdkit"], int)
    assert [p["molecules"] for p in points] == sorted({p["molecules"] for p in points})
    assert run.meta["profile"]["steps"] == 1 and math.isfinite(run.meta["trajectories_per_s"])
    # the plot picks up seh_<loss>.json from a folder and draws the paper's markers beside it
    assert plot(tmp_path, tmp_path / "seh.png") is not None and (tmp_path / "seh.png").stat().st_size > 10_000


def test_paper_reward_spec_is_the_papers_reward(shared_data: Path) -> None:
    from gfn.rewards.compose import build_reward

    weights = shared_data / "seh_proxy.npz"
    if not weights.is_file():
        pytest.skip(f"{weights} not found")
    fn = build_reward(paper_reward_spec(weights))
    for r in fn(["c1ccccc1CCO", "CCN(CC)C(=O)c1ccc2[nH]ccc2c1", "C"]):
        score = r.components["seh_proxy"]
        assert r.reward == pytest.approx((max(score, 0.1) / 8) ** 10, rel=1e-9)


def test_first_signal_stops_cleanly_and_a_second_exits_at_once() -> None:
    stop = threading.Event()
    handle = stop_handler(stop)
    handle(signal.SIGINT, None)
    assert stop.is_set()
    with pytest.raises(SystemExit) as exc:
        handle(signal.SIGINT, None)
    assert exc.value.code == 128 + signal.SIGINT


def test_bad_command_line_input_exits_with_a_message_and_writes_nothing(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    from benchmarks.seh import main

    out = tmp_path / "seh_tb_quick.json"
    with pytest.raises(SystemExit) as exc:
        main(["--quick", "--threads", "0", "--out", str(out)])
    assert exc.value.code == 2 and "--threads: must be at least 1, got 0" in capsys.readouterr().err
    if not (shared_data / "blocks_PDB_105.json").is_file() or not (shared_data / "seh_proxy.npz").is_file():
        pytest.skip(f"reference data not found in {shared_data}")
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    threads = torch.get_num_threads()
    try:
        for args, message in (
            (["--batch-size", "0"], "batch_size: Input should be greater than or equal to 1"),
            (["--override", '{"lr": -1}'], "lr: Input should be greater than 0"),
            (["--device", "cuda:99"] if not torch.cuda.is_available() else ["--device", "tpu"], "device:"),
        ):
            with pytest.raises(SystemExit) as exc:
                main(["--quick", *args, "--out", str(out)])
            assert isinstance(exc.value.code, str) and exc.value.code.startswith("benchmarks.seh: ")
            assert message in exc.value.code
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        torch.set_num_threads(threads)
    assert not out.exists()
