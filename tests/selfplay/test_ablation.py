"""`ponder ablate` end to end on tiny checkpoints: outputs, resume from the cache, usage errors; fidelity."""
import json

import numpy as np
import pytest
import torch

from agent.checkpoint import make_payload, save_checkpoint
from agent.config import NetworkConfig
from agent.networks import build_network
from envs import get_game
from scripts.ponder import main as ponder
from selfplay.matches import GAMES_FILE, parse_sims_list
from selfplay.fidelity import measure_fidelity, play_trajectories
from envs.errors import UsageError

SMALL_NET = NetworkConfig(channels=8, representation_blocks=1, dynamics_blocks=1, prediction_blocks=0, head_hidden=8)


def tiny_checkpoint(path, game_name="tictactoe", step=0, seed=0):
    torch.manual_seed(seed)
    game = get_game(game_name)
    network = build_network(game, SMALL_NET)
    return save_checkpoint(path, make_payload(network, game, step=step))


QUICK = ["--root", "puct", "--opponents", "random,heuristic", "--games", "4", "--chunk", "2",
         "--fidelity-games", "4", "--bootstrap", "30", "--workers", "1", "--no-tensorboard"]


def test_end_to_end_tictactoe_with_resume(tmp_path, capsys):
    first = tiny_checkpoint(tmp_path / "a.pt", step=10, seed=0)
    second = tiny_checkpoint(tmp_path / "b.pt", step=20, seed=1)
    out = tmp_path / "out"
    argv = ["ablate", "--checkpoint", str(second), str(first), "--sims", "0,2", "--out", str(out), *QUICK]
    assert ponder(argv + ["--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    results = json.loads((out / "results.json").read_text())
    assert printed == results

    # Players: per checkpoint policy-only and puct:2; two baselines. Checkpoints sorted by step.
    assert [c["step"] for c in results["checkpoints"]] == [10, 20]
    names = {p["name"] for p in results["players"]}
    assert names == {"step_10:policy", "step_10:puct:2", "step_20:policy", "step_20:puct:2", "random", "heuristic"}
    # Matches: 4 agents x 2 opponents + 2 ladder neighbours + 1 opponent pair, 4 games each.
    assert len(results["matches"]) == 11
    assert all(m["games"] == 4 and m["a_wins"] + m["draws"] + m["b_wins"] == 4 for m in results["matches"])
    assert results["totals"] == {**results["totals"], "games": 44, "new_games": 44, "cached_games": 0}
    elo = results["elo"]["players"]
    assert elo["random"]["elo"] == 0.0
    for name, entry in elo.items():
        assert entry["low"] <= entry["elo"] <= entry["high"], name
        assert entry["games"] > 0
    # Policy-only makes one network evaluation per move, 2 sims three (h + 2 recurrent).
    assert results["move_cost"]["step_10:policy"]["network_evals_per_move"] == pytest.approx(1.0)
    assert results["move_cost"]["step_10:puct:2"]["network_evals_per_move"] == pytest.approx(3.0)
    assert results["move_cost"]["random"]["network_evals_per_move"] is None
    # Accuracy over all 4,520 positions for each checkpoint and sims count.
    accuracy = results["accuracy"]
    assert accuracy["kind"] == "tictactoe" and len(accuracy["rows"]) == 4
    assert all(0.0 < row["optimal_rate"] <= 1.0 for row in accuracy["rows"])
    assert 0.5 < accuracy["baselines"]["random_optimal_rate"] < 0.7
    # Fidelity: depth 0 compares h with itself.
    fidelity = results["fidelity"]["step_10"]
    assert fidelity["depths"] == list(range(11)) and fidelity["policy_kl"][0] == 0.0
    assert fidelity["pairs"][1] > 0 and fidelity["value_abs_error"][1] >= 0.0
    assert {row["root"] for row in results["elo_per_doubling"]} == {"puct"}

    report = (out / "report.md").read_text()
    for heading in ("Policy-only vs shallow vs deep", "Elo ladder", "Elo per doubling", "Accuracy against perfect play",
                    "Learned-model fidelity", "Elo by training step"):
        assert heading in report
    assert "`step_20:puct:2`" in report and results["command"] in report
    for png in ("elo_vs_sims.png", "accuracy_vs_sims.png", "fidelity_vs_depth.png", "elo_by_step.png"):
        data = (out / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, png

    # Resume: cut the cache after 10 games and leave half a line, as an interrupted run would.
    lines = (out / GAMES_FILE).read_text().splitlines(keepends=True)
    assert len(lines) == 44
    (out / GAMES_FILE).write_text("".join(lines[:10]) + lines[10][:25])
    assert ponder(argv) == 0
    capsys.readouterr()
    resumed = json.loads((out / "results.json").read_text())
    assert resumed["totals"]["cached_games"] == 10 and resumed["totals"]["new_games"] == 34
    # Chunks are seeded by their identity, so replaying gives the same games and ratings.
    assert resumed["matches"] == results["matches"]
    assert resumed["elo"] == results["elo"]
    # Everything cached now: nothing is replayed.
    assert ponder(argv) == 0
    again = json.loads((out / "results.json").read_text())
    assert again["totals"]["new_games"] == 0 and again["totals"]["cached_games"] == 44


def test_connect_four_accuracy_on_pons_sets_with_two_workers(tmp_path, capsys):
    checkpoint = tiny_checkpoint(tmp_path / "c4.pt", game_name="connect_four", step=3)
    out = tmp_path / "out"
    argv = ["ablate", "--checkpoint", str(checkpoint), "--sims", "0,1", "--root", "gumbel", "--opponents", "random",
            "--games", "2", "--positions", "6", "--fidelity-games", "2", "--bootstrap", "10", "--workers", "2",
            "--out", str(out)]
    assert ponder(argv) == 0
    results = json.loads((out / "results.json").read_text())
    accuracy = results["accuracy"]
    assert accuracy["kind"] == "connect_four" and len(accuracy["rows"]) == 2
    for row in accuracy["rows"]:
        assert [s["positions"] for s in row["sets"]] == [6] * 6
        assert all(0.0 <= s["mistake_rate"] <= 1.0 for s in row["sets"])
        assert [s["exact_optimal_rate"] is None for s in row["sets"]] == [True] * 3 + [False] * 3
        assert all(0 <= s["allows_win"] <= s["positions"] for s in row["sets"])
    assert [round(100 * s["random_mistake_rate"], 1) for s in accuracy["baselines"]["sets"]] == \
        [24.8, 29.5, 48.7, 28.6, 42.1, 31.1]
    assert "Pons" in (out / "report.md").read_text() and "allows a win in one" in (out / "report.md").read_text()
    assert (out / "tb").is_dir() and any((out / "tb").iterdir())


@pytest.mark.parametrize("extra, message", [
    (["--sims", "0,1,x"], "--sims must be comma-separated"),
    (["--sims", ""], "--sims must be comma-separated"),
    (["--root", "alphazero"], "--root must be"),
    (["--opponents", "heuristic"], "must include 'random'"),
    (["--opponents", "random,bogus:3"], "bogus"),
    (["--games", "0"], "--games must be at least 1"),
])
def test_bad_arguments_are_one_line_and_exit_2(tmp_path, capsys, extra, message):
    checkpoint = tiny_checkpoint(tmp_path / "t.pt")
    status = ponder(["ablate", "--checkpoint", str(checkpoint), "--out", str(tmp_path / "o"), *extra])
    err = capsys.readouterr().err
    assert status == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("extra, message", [
    (["--experiment", "connect_four/c4-p"], "is a connect_four recipe, but the checkpoints are tictactoe"),
    (["--experiment", "tictactoe/base"], "has no [benchmark] table"),
    (["--experiment", "tictactoe/nothing"], "nothing"),
])
def test_an_experiment_of_another_game_or_without_a_benchmark_is_exit_2(tmp_path, capsys, extra, message):
    test_bad_arguments_are_one_line_and_exit_2(tmp_path, capsys, extra, message)


def test_the_experiments_benchmark_fills_the_flags_left_unset():
    import argparse

    from selfplay.ablation_cli import add_arguments, apply_benchmark

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--checkpoint", "x.pt", "--experiment", "connect_four/c4-p"])
    required, game = apply_benchmark(args)
    assert game == "connect_four" and required == [200]
    assert (args.games, args.root, args.deep, args.sims) == (140, "puct,puct+rules", 200, "0,8,200")
    assert args.opponents == "random,alphabeta:4,rollout-mcts:1000"
    given = parser.parse_args(["--checkpoint", "x.pt", "--experiment", "connect_four/c4-p", "--games", "6",
                               "--root", "gumbel", "--sims", "0,4", "--opponents", "random"])
    apply_benchmark(given)
    assert (given.games, given.root, given.sims, given.opponents, given.deep) == (6, "gumbel", "0,4", "random", 200)
    plain = parser.parse_args(["--checkpoint", "x.pt"])
    assert apply_benchmark(plain) == ([], None) and (plain.games, plain.root) == (40, "puct,gumbel")


def test_missing_checkpoint_and_mixed_games_exit_2(tmp_path, capsys):
    assert ponder(["ablate", "--checkpoint", str(tmp_path / "nope.pt")]) == 2
    err = capsys.readouterr().err
    assert "nope.pt" in err and err.count("\n") == 1
    tic = tiny_checkpoint(tmp_path / "t.pt")
    c4 = tiny_checkpoint(tmp_path / "c.pt", game_name="connect_four")
    assert ponder(["ablate", "--checkpoint", str(tic), str(c4), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "different games" in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_parse_sims_list():
    assert parse_sims_list("8, 0,2,2") == (0, 2, 8)
    for bad in ("1,-2", "1,,2", "a", "1.5"):
        with pytest.raises(UsageError):
            parse_sims_list(bad)


class ExactModel(torch.nn.Module):
    """A fake network whose dynamics are the real game: the hidden state is the move history.

    Its imagined states are the real positions, so fidelity must be perfect at every depth;
    with ``forget_actions`` the dynamics stand still (the state never changes) and must show errors.
    """

    def __init__(self, game, forget_actions=False):
        super().__init__()
        self.game, self.forget_actions = game, forget_actions

    def _heads(self, histories):
        logits, values = [], []
        for history in histories:
            state = self.game.state_from_actions([a for a in history if a >= 0])
            planes = torch.from_numpy(state.planes())
            weights = torch.arange(1.0, 1.0 + planes.numel()).reshape(planes.shape)
            logits.append((planes * weights).sum(dim=0).flatten() * 0.3 - 0.5 * torch.arange(9.0))
            values.append(torch.tanh(planes[0].sum() - planes[1].sum() + 0.1 * len(history)))
        return torch.stack(logits), torch.stack(values)

    def initial(self, planes):
        # Recover the history from the planes: the tests only start from real positions.
        histories = [self._history_of(p) for p in planes]
        hidden = torch.full((len(histories), 9), -1, dtype=torch.long)
        for i, history in enumerate(histories):
            hidden[i, :len(history)] = torch.tensor(history, dtype=torch.long)
        logits, values = self._heads(histories)
        return hidden, logits, values

    def recurrent(self, hidden, actions):
        hidden = hidden.clone()
        for i, action in enumerate(actions.tolist()):
            ply = int((hidden[i] >= 0).sum())
            if not self.forget_actions:
                hidden[i, ply] = action
        logits, values = self._heads([[a for a in row if a >= 0] for row in hidden.tolist()])
        return hidden, torch.zeros(len(actions)), logits, values

    def _history_of(self, planes):
        return self.known[tuple(planes.flatten().tolist())]


def test_fidelity_is_perfect_for_an_exact_model_and_not_for_a_broken_one():
    game = get_game("tictactoe")
    rng = np.random.default_rng(0)
    trajectories = []
    for _ in range(6):
        state = game.initial_state()
        while not state.is_terminal():
            state = state.play(int(rng.choice(state.legal_actions())))
        trajectories.append(state.history)
    known = {}
    for history in trajectories:
        for ply in range(len(history) + 1):
            known[tuple(game.state_from_actions(history[:ply]).planes().flatten().tolist())] = list(history[:ply])
    exact, broken = ExactModel(game), ExactModel(game, forget_actions=True)
    exact.known = broken.known = known
    table = measure_fidelity(exact, game, trajectories, max_depth=10)
    assert table.pairs[1] == sum(len(t) - 1 for t in trajectories)
    np.testing.assert_allclose(table.policy_kl[:9], 0.0, atol=1e-12)
    np.testing.assert_allclose(table.value_abs_error[:9], 0.0, atol=1e-6)
    wrong = measure_fidelity(broken, game, trajectories, max_depth=10)
    assert wrong.policy_kl[2] > 0.01 and wrong.value_abs_error[2] > 0.01
    # The exact model's illegal mass at depth k is its real prior's over the positions k plies in.
    targets = [history[:ply] for history in trajectories for ply in range(3, len(history))]
    logits, _ = exact._heads(targets)
    prior = torch.softmax(logits.double(), dim=1).numpy()
    legal = np.stack([game.state_from_actions(t).legal_mask() for t in targets])
    assert table.illegal_mass[3] == pytest.approx((prior * ~legal).sum(axis=1).mean(), abs=1e-9)


def test_policy_only_trajectories_alternate_colours_and_finish():
    game = get_game("tictactoe")
    network = build_network(game, SMALL_NET).eval()
    trajectories = play_trajectories(network, game, 6, seed=1)
    assert len(trajectories) == 6
    for history in trajectories:
        assert game.state_from_actions(history).is_terminal()
    assert trajectories == play_trajectories(network, game, 6, seed=1)


def test_a_checkpoint_without_a_trained_model_is_ablated_over_the_rules_only(tmp_path, capsys):
    """K = 0 left g untrained: learned-model roots are refused in one line, before any game."""
    torch.manual_seed(0)
    game = get_game("tictactoe")
    checkpoint = save_checkpoint(tmp_path / "k0.pt", make_payload(
        build_network(game, SMALL_NET), game, step=1,
        config={"loss": {"unroll_steps": 0}, "search": {"model": "rules"}}))
    out = tmp_path / "o"
    status = ponder(["ablate", "--checkpoint", str(checkpoint), "--out", str(out), "--sims", "0,2", *QUICK])
    err = capsys.readouterr().err
    assert status == 2 and "loss.unroll_steps=0" in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()
    quick_over_rules = [arg if arg != "puct" else "puct+rules" for arg in QUICK]
    assert ponder(["ablate", "--checkpoint", str(checkpoint), "--out", str(out), "--sims", "0,2",
                   *quick_over_rules]) == 0


def test_learned_roots_meet_the_same_network_over_the_rules_at_equal_sims():
    from selfplay.ablation import learned_against_rules
    from selfplay.matches import PlayerConfig

    def agent(root, sims, checkpoint="c"):
        return PlayerConfig(name=f"{checkpoint}:{root}:{sims}", kind="agent", spec="agent:x", checkpoint=checkpoint,
                            sims=sims, root=root)

    players = [agent("policy", 0), agent("puct", 8), agent("puct", 64), agent("puct+rules", 8),
               agent("puct+rules", 64), agent("gumbel", 8), agent("gumbel+rules+solver", 8),
               agent("puct", 8, checkpoint="d")]
    pairs = {(a.name, b.name) for a, b in learned_against_rules(players)}
    assert pairs == {("c:puct:8", "c:puct+rules:8"), ("c:puct:64", "c:puct+rules:64")}
