"""train_run: checkpoints resume to the identical state; the CLI trains and samples; exactness."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import torch

from app.cli import main as cli
from gfn.build import build_loss, build_model, build_reward
from gfn.chem.blocks import library_from_json
from gfn.errors import ConfigError
from gfn.featurize import Featurizer
from gfn.mdp.block_mdp import BlockMDP
from gfn.mdp.enumerate import enumerate_dag
from gfn.metrics import exact_l1, exact_terminal_distribution
from gfn.runs import Progress, has_checkpoint, sample_run, train_run
from gfn.sampling.policy import model_policy
from gfn.training.checkpoint import latest_checkpoint, load_checkpoint
from gfn.training.config import parse_training_config
from gfn.training.loop import train
from tests.mdp.conftest import TINY

SPEC = {"components": [{"name": "qed"}]}
CONFIG = {
    "loss": "tb",
    "steps": 6,
    "batch_size": 8,
    "max_blocks": 3,
    "hidden": 32,
    "layers": 2,
    "replay_fraction": 0.25,
    "seed": 3,
}


@pytest.mark.parametrize("extra", [{}, {"local_search_rounds": 1}], ids=["plain", "local_search"])
def test_resume_reaches_identical_state(tmp_path: Path, extra: dict[str, int]) -> None:
    lib = library_from_json(TINY)
    config = {**CONFIG, **extra}
    train_run(SPEC, config, lib, tmp_path / "a")
    steps_seen: list[int] = []

    def stop_after_3() -> bool:
        return len(steps_seen) >= 3

    def progress(p: Progress) -> None:
        steps_seen.append(p.step)

    summary = train_run(
        SPEC, config, lib, tmp_path / "b", progress=progress, should_stop=stop_after_3, progress_every_s=0.0
    )
    assert summary.stopped and summary.steps_done == 3
    assert has_checkpoint(tmp_path / "b")
    final = train_run(SPEC, config, lib, tmp_path / "b")
    assert final.steps_done == 6 and not final.stopped
    a = load_checkpoint(latest_checkpoint(tmp_path / "a"))  # type: ignore[arg-type]
    b = load_checkpoint(latest_checkpoint(tmp_path / "b"))  # type: ignore[arg-type]
    assert a["step"] == b["step"] == 6
    for k, v in a["model"].items():
        assert torch.equal(v, b["model"][k]), k
    assert torch.equal(a["generator"], b["generator"])
    assert a["replay"] == b["replay"]
    # the same seed gives the same first batch of samples
    s1 = [m.smiles for m in sample_run(tmp_path / "a", 10, seed=5)]
    s2 = [m.smiles for m in sample_run(tmp_path / "b", 10, seed=5)]
    assert s1 == s2


def test_run_dir_refuses_a_different_run(tmp_path: Path) -> None:
    from gfn.errors import RunError

    lib = library_from_json(TINY)
    train_run(SPEC, {**CONFIG, "steps": 1}, lib, tmp_path)
    with pytest.raises(RunError):
        train_run(SPEC, {**CONFIG, "steps": 1, "max_blocks": 2}, lib, tmp_path)


def test_run_written_before_a_setting_existed_still_resumes(tmp_path: Path) -> None:
    """A run.json lacking a newer setting means that setting's default (a job queued before an upgrade)."""
    lib = library_from_json(TINY)
    train_run(SPEC, {**CONFIG, "steps": 1}, lib, tmp_path)
    run_file = tmp_path / "run.json"
    stored = json.loads(run_file.read_text())
    del stored["training"]["backward_policy"], stored["training"]["lr_half_life"]
    run_file.write_text(json.dumps(stored))
    train_run(SPEC, {**CONFIG, "steps": 1}, lib, tmp_path)  # resumes: no RunError
    assert latest_checkpoint(tmp_path) is not None


def test_progress_reports_new_molecules(tmp_path: Path) -> None:
    reports: list[Progress] = []
    train_run(
        SPEC,
        {**CONFIG, "steps": 2, "replay_fraction": 0.0},
        library_from_json(TINY),
        tmp_path,
        progress=reports.append,
        progress_every_s=0.0,
    )
    assert reports[-1].step == 2 and reports[-1].checkpoint_step == 2
    mols = [m for r in reports for m in r.new_molecules]
    assert mols and all(0 < m.reward <= 1 and m.count >= 1 for m in mols)
    assert sum(m.count for m in mols) == 16  # every trajectory of both steps is reported


def test_updates_per_batch_reuses_each_sampled_batch(tmp_path: Path) -> None:
    """Two optimiser updates per sampled batch: twice the Adam steps, the same molecules visited."""
    reports: list[Progress] = []
    cfg = {**CONFIG, "steps": 3, "updates_per_batch": 2}
    train_run(SPEC, cfg, library_from_json(TINY), tmp_path, progress=reports.append, progress_every_s=0.0)
    ckpt = load_checkpoint(latest_checkpoint(tmp_path))  # type: ignore[arg-type]
    assert ckpt["step"] == 3
    adam_steps = {int(st["step"]) for st in ckpt["optimizer"]["state"].values()}
    assert adam_steps == {6}
    # 8 fresh trajectories in the first batch, then 6 fresh + 2 replayed (replays are not visits)
    assert sum(m.count for r in reports for m in r.new_molecules) == 8 + 6 + 6
    with pytest.raises(ConfigError, match="updates_per_batch"):
        parse_training_config({**cfg, "updates_per_batch": 0})


def test_cli_train_then_sample(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "spec.json").write_text(json.dumps(SPEC))
    (tmp_path / "config.json").write_text(json.dumps({**CONFIG, "steps": 2}))
    (tmp_path / "lib.json").write_text(json.dumps(TINY))
    rc = cli(
        [
            "train",
            "--spec",
            str(tmp_path / "spec.json"),
            "--config",
            str(tmp_path / "config.json"),
            "--library",
            str(tmp_path / "lib.json"),
            "--out",
            str(tmp_path / "run"),
        ]
    )
    assert rc == 0
    capsys.readouterr()
    assert cli(["sample", "--run", str(tmp_path / "run"), "--n", "7", "--seed", "1"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["smiles", "reward"] and len(rows) == 8
    assert all(float(r[1]) > 0 for r in rows[1:])


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["train", "--spec", "{d}/missing.json", "--out", "{d}/r"], "--spec"),
        (["train", "--spec", "{d}/spec.json", "--config", "{d}/bad.json", "--out", "{d}/r"], "bogus"),
        (["train", "--spec", "{d}/badspec.json", "--out", "{d}/r"], "components[0].name"),
        (["train", "--spec", "{d}/spec.json", "--library", "{d}/nolib.json", "--out", "{d}/r"], "library"),
        (["sample", "--run", "{d}/nothing", "--n", "3"], "--run"),
        (["sample", "--run", "{d}", "--n", "0"], "--n"),
    ],
)
def test_cli_errors_are_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    (tmp_path / "spec.json").write_text(json.dumps(SPEC))
    (tmp_path / "bad.json").write_text(json.dumps({"bogus": 1}))
    (tmp_path / "badspec.json").write_text(json.dumps({"components": [{"name": "nope"}]}))
    rc = cli([a.format(d=tmp_path) for a in args])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and needle in err and "Traceback" not in err


@pytest.mark.slow
@pytest.mark.parametrize(
    "extra",
    # local search and a tempered behaviour policy: the trajectories they give are off-policy data, so TB
    # still converges to R/Z (the L1 is the learned policy's, at temperature 1)
    [{}, {"local_search_rounds": 1, "local_search_depth": 1}, {"temperature": 0.7}],
    ids=["plain", "local_search", "tempered"],
)
def test_tb_samples_in_proportion_to_reward_on_tiny_library(extra: dict[str, float]) -> None:
    """A generous bound that catches regressions: exact L1 on an enumerated library after training."""
    lib = library_from_json(TINY)
    mdp = BlockMDP(lib, max_blocks=2)
    dag = enumerate_dag(mdp)
    reward_fn = build_reward({"components": [{"name": "qed"}], "beta": 4})
    rewards = {s.smiles: s.reward for s in reward_fn(list(dag.terminal_molecules()))}
    cfg = parse_training_config(
        {"loss": "tb", "steps": 250, "batch_size": 32, "max_blocks": 2, "lr": 3e-3, "lr_logz": 0.1, "hidden": 64,
         **extra}
    )  # fmt: skip
    fz = Featurizer(mdp)
    model = build_model(fz, cfg, torch.device("cpu"))
    gen = torch.Generator()
    gen.manual_seed(0)
    train(mdp, fz, model, reward_fn, build_loss(cfg), cfg, generator=gen, device=torch.device("cpu"))
    res = exact_l1(dag, exact_terminal_distribution(dag, model_policy(model, fz)), rewards)
    assert len(rewards) > 30
    assert res.l1_molecule < 0.15
