"""End to end: `ponder train` on tic-tac-toe with a tiny budget, then `--resume` continues it."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
# Tiny and fast: a few games per actor, 2 simulations, small batches, a token evaluation.
TINY = ["--sims", "2", "--actors", "1", "--quiet",
        "--set", "actor.games_per_actor=16", "--set", "learner.batch_size=32",
        "--set", "replay.min_positions=40", "--set", "trainer.eval_games=2",
        "--set", "trainer.eval_sims=2", "--set", "trainer.samples_per_position=2.0",
        "--set", "trainer.log_every_steps=5"]


def ponder(*args, timeout=240):
    return subprocess.run([sys.executable, "-m", "scripts.ponder", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


def load(path):
    from agent.checkpoint import load_checkpoint

    return load_checkpoint(path)


@pytest.mark.timeout(300)
def test_train_then_resume_continues_step_optimizer_and_replay(tmp_path):
    out = tmp_path / "run"
    first = ponder("train", "--game", "tictactoe", "--out", str(out), "--steps", "20", *TINY)
    assert first.returncode == 0, first.stderr[-2000:]
    assert (out / "config.toml").exists() and (out / "replay" / "games.npz").exists()
    assert list((out / "tb").glob("events.out.tfevents.*"))
    checkpoint = load(out / "checkpoints" / "latest.pt")
    assert checkpoint.step == 20 and (out / "checkpoints" / "step_20.pt").exists()
    adam_steps = {int(s["step"]) for s in checkpoint.optimizer["state"].values()}
    assert adam_steps == {20}
    with np.load(out / "replay" / "games.npz") as data:
        games_after_first = int(data["counters"][1])
    assert games_after_first > 0

    from agent.agent import Agent
    from envs.registry import get_game

    agent = Agent.load(out)
    state = get_game("tictactoe").initial_state()
    assert agent.act([state], 2).actions[0] in state.legal_actions()

    again = ponder("train", "--game", "tictactoe", "--out", str(out), "--steps", "5", *TINY)
    assert again.returncode == 2 and "--resume" in again.stderr and len(again.stderr.strip().splitlines()) == 1

    resumed = ponder("train", "--out", str(out), "--resume", "--steps", "10", *TINY)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    checkpoint = load(out / "checkpoints" / "latest.pt")
    assert checkpoint.step == 30
    assert {int(s["step"]) for s in checkpoint.optimizer["state"].values()} == {30}
    assert checkpoint.extra["session"] == 1
    with np.load(out / "replay" / "games.npz") as data:
        assert int(data["counters"][1]) > games_after_first   # counters continued: replay was reloaded


@pytest.mark.timeout(300)
def test_train_with_rules_search_and_the_consistency_loss(tmp_path):
    """Self-play searching the real rules (AlphaZero) and the EfficientZero consistency loss,
    together: both go through the whole loop and land in the checkpoint's config."""
    out = tmp_path / "run"
    run = ponder("train", "--game", "tictactoe", "--out", str(out), "--steps", "10", *TINY,
                 "--set", "search.model=rules", "--set", "loss.consistency=true")
    assert run.returncode == 0, run.stderr[-2000:]
    checkpoint = load(out / "checkpoints" / "latest.pt")
    assert checkpoint.step == 10
    assert checkpoint.config["search"]["model"] == "rules" and checkpoint.config["loss"]["consistency"] is True


@pytest.mark.timeout(300)
def test_train_over_the_rules_without_an_unroll(tmp_path):
    """K = 0 over the rules is AlphaZero's loss: h and f on the sampled real positions only.
    It runs the whole loop and leaves g exactly as initialised, since nothing trains it."""
    import torch

    out = tmp_path / "run"
    run = ponder("train", "--game", "tictactoe", "--out", str(out), "--steps", "10", *TINY,
                 "--set", "search.model=rules", "--set", "loss.unroll_steps=0", "--set", "learner.weight_decay=0")
    assert run.returncode == 0, run.stderr[-2000:]
    resumed = ponder("train", "--out", str(out), "--resume", "--steps", "10", *TINY)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    before, after = load(out / "checkpoints" / "step_10.pt"), load(out / "checkpoints" / "step_20.pt")
    assert after.config["loss"]["unroll_steps"] == 0
    changed = {name for name, tensor in after.model.items() if not torch.equal(tensor, before.model[name])}
    assert any(name.startswith("represent") for name in changed)
    assert not any(name.startswith(("dynamics", "reward_head")) for name in changed)


@pytest.mark.parametrize("args, words", [
    (["--game", "tictactoe", "--set", "search.model=oracle"], "model"),
    (["--game", "tictactoe", "--address", "127.0.0.1:6379"], "--address needs --backend ray"),
    (["--game", "no_such_game"], "no_such_game"),
    (["--resume"], "holds no run"),
    (["--game", "tictactoe", "--set", "learner.batch_size=big"], "expects an integer"),
    (["--game", "tictactoe", "--steps", "0"], "--steps"),
    (["--game", "tictactoe", "--set", 'trainer.eval_opponents=["heuristic", "alphabeta:x"]'],
     "trainer.eval_opponents"),
    (["--game", "connect_four", "--set", 'trainer.eval_opponents=["perfect"]'], "only for tictactoe"),
    (["--game", "tictactoe", "--set", "replay.discount=0.98"], "search.discount"),
    (["--game", "tictactoe", "--set", "search.solver=true"], "search.model=rules"),
    (["--game", "tictactoe", "--set", "replay.root_value_weight=2"], "replay.root_value_weight"),
    (["--game", "tictactoe", "--set", "loss.unroll_steps=0"], "search.model=rules"),
    (["--game", "tictactoe", "--set", "loss.unroll_steps=0", "--set", "search.model=rules",
      "--set", "loss.consistency=true"], "loss.consistency=false"),
])
def test_usage_errors_are_one_line(tmp_path, args, words):
    result = ponder("train", "--out", str(tmp_path / "run"), *args, timeout=60)
    assert result.returncode == 2
    assert words in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.timeout(300)
def test_many_unfinished_games_do_not_stall_the_actors_before_the_first_batch(tmp_path):
    """Plies of games still in play must not count against the ratio's slack.

    Two actors play 64 games each, so their first move alone is 128 plies, more than
    ``min_positions`` + slack (40 + 10), and no tic-tac-toe game ends before its fifth ply.
    A throttle that counted those plies paused both actors before any game reached the
    replay, and the learner, waiting for ``min_positions``, never took a step.
    """
    out = tmp_path / "run"
    result = ponder("train", "--game", "tictactoe", "--out", str(out), "--steps", "5", "--set", "trainer.max_minutes=1",
                    *TINY, "--actors", "2", "--set", "actor.games_per_actor=64",   # the later value wins
                    "--set", "trainer.ratio_slack_positions=10", timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert load(out / "checkpoints" / "latest.pt").step == 5


@pytest.mark.timeout(300)
def test_training_with_action_heads_records_labels_trains_them_and_exports_a_learned_player(tmp_path):
    """network.action_heads: the actors record every action's game end, the learner fits the
    heads on part-unrolled batches, and the exported agent plays over its learned model by
    default even though its self-play searched the rules (`--play-root puct`)."""
    from agent.agent import Agent
    from envs.registry import get_game

    out = tmp_path / "run"
    run = ponder("train", "--game", "tictactoe", "--out", str(out), "--steps", "15", *TINY,
                 "--set", "network.action_heads=true", "--set", "loss.unroll_fraction=0.5",
                 "--set", "loss.end_positive_weight=5", "--set", "search.model=rules",
                 "--set", "loss.branch_steps=2")
    assert run.returncode == 0, run.stderr[-2000:]
    with np.load(out / "replay" / "games.npz") as data:
        ends, legal = data["action_ends"], data["legal_masks"]
        assert ends.shape == legal.shape and (ends[~legal] == 0).all() and (ends == 1).any()
        # one step off the game: a legal other move, and the rules' labels of where it leads
        game, lengths = get_game("tictactoe"), data["lengths"]
        openings = np.split(data["opening"], np.cumsum(data["opening_lengths"])[:-1])
        played = np.split(data["actions"], np.cumsum(lengths)[:-1])
        branches = np.split(data["branch_actions"], np.cumsum(lengths)[:-1])
        branch_ends = np.split(data["branch_ends"], np.cumsum(lengths)[:-1])
        for opening, moves, aside, aside_ends in list(zip(openings, played, branches, branch_ends))[:20]:
            state = game.state_from_actions(opening.tolist())
            for move, other, other_ends in zip(moves.tolist(), aside.tolist(), aside_ends):
                if other >= 0:
                    assert state.legal_mask()[other] and (other != move or len(state.legal_actions()) == 1)
                    assert (state.play(other).action_ends() == other_ends).all()
                else:
                    assert any(state.play(a).is_terminal() for a in state.legal_actions())
                state = state.play(move)
    final = load(out / "checkpoints" / "latest.pt")
    assert "action_heads.fc2.weight" in final.model
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(out / "tb"))
    events.Reload()
    legal_losses = [event.value for event in events.Scalars("loss/legal")]
    assert legal_losses and legal_losses[-1] > 0 and np.isfinite(legal_losses).all()

    exported = tmp_path / "agent.pt"
    export = subprocess.run([sys.executable, "scripts/export_pretrained.py", str(out), "--out", str(exported),
                             "--play-root", "puct"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert export.returncode == 0, export.stderr
    agent = Agent.load(exported)
    assert agent.trained_model == "rules" and agent.play_root == "puct"
    from agent.player import agent_default_root
    assert agent_default_root(agent) == "puct" and agent_default_root(Agent.load(out)) == "puct+rules"
    state = get_game("tictactoe").state_from_actions([0, 3, 1, 4])
    assert agent.act([state], 8).actions[0] in state.legal_actions()
    bad = subprocess.run([sys.executable, "scripts/export_pretrained.py", str(out), "--out", str(exported),
                          "--play-root", "sideways"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
