"""Legality and game ends against the rules, by unroll depth: exact models score 100%, blind ones 0%."""
import numpy as np
import pytest
import torch

from envs.registry import get_game
from selfplay.end_fidelity import EndCounts
from selfplay.fidelity import measure_fidelity, policy_continuations

from tests.agent.rules_network import RulesNetwork

GAME = get_game("tictactoe")


def _random_games(count, seed=0):
    rng = np.random.default_rng(seed)
    games = []
    for _ in range(count):
        state = GAME.initial_state()
        while not state.is_terminal():
            state = state.play(int(rng.choice(state.legal_actions())))
        games.append(state.history)
    return games


def test_exact_heads_and_an_exact_reward_head_score_perfectly_at_every_depth():
    games = _random_games(12)
    with_heads = measure_fidelity(RulesNetwork("ends"), GAME, games, max_depth=4)
    with_reward = measure_fidelity(RulesNetwork("reward"), GAME, games, max_depth=4)
    for depth in range(5):
        heads, reward = with_heads.ends[depth], with_reward.ends[depth]
        assert heads["positions"] == with_heads.pairs[depth]
        assert heads["legal_accuracy"] == 1.0 and heads["legal_total"] == 9 * heads["positions"]
        if heads["win_tp"] + heads["win_fn"]:
            assert heads["win_precision"] == heads["win_recall"] == 1.0 and heads["end_recall"] == 1.0
            assert heads["reward_win_recall"] == 0.0          # its reward head says nothing
            assert reward["reward_win_precision"] == reward["reward_win_recall"] == 1.0
        assert reward["legal_accuracy"] is None                # no heads: nothing to say
    assert sum(entry["win_tp"] for entry in with_heads.ends) > 0


def test_counts_add_up_and_rates_are_undefined_without_positives():
    total = EndCounts()
    total.add(EndCounts(positions=2, win_tp=3, win_fp=1, win_fn=0))
    total.add(EndCounts(positions=1, win_tp=1, win_fn=4))
    rates = total.as_dict()
    assert rates["positions"] == 3 and rates["win_precision"] == pytest.approx(0.8)
    assert rates["win_recall"] == pytest.approx(0.5) and rates["end_recall"] is None


def test_measuring_from_a_later_ply_skips_the_opening():
    games = _random_games(4, seed=1)
    full = measure_fidelity(RulesNetwork("ends"), GAME, games, max_depth=2)
    later = measure_fidelity(RulesNetwork("ends"), GAME, games, max_depth=2, first_plies=[3] * len(games))
    assert later.pairs[0] == full.pairs[0] - 3 * len(games)
    assert later.pairs[1] == full.pairs[1] - 3 * len(games)


def test_policy_continuations_finish_every_opening():
    games = policy_continuations(RulesNetwork("ends"), GAME, [(0,), (4, 0), ()])
    assert [game[:len(opening)] for game, opening in zip(games, [(0,), (4, 0), ()])] == [(0,), (4, 0), ()]
    assert all(GAME.state_from_actions(game).is_terminal() for game in games)


def _script(*args):
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    return subprocess.run([sys.executable, "scripts/model_fidelity.py", *args], cwd=repo, capture_output=True,
                          text=True, timeout=300)


def test_the_diagnostic_script_reports_by_depth_and_refuses_bad_input(tmp_path):
    import json

    out = tmp_path / "fidelity.json"
    run = _script("agent/pretrained/tictactoe.pt", "--games", "4", "--depth", "2", "--json", str(out))
    assert run.returncode == 0, run.stderr[-2000:]
    results = json.loads(out.read_text())
    table = next(iter(results["fidelity"].values()))
    assert table["depths"] == [0, 1, 2] and len(table["ends"]) == 3
    assert "| k | pairs |" in run.stdout
    # every tic-tac-toe position searched both ways: counted against perfect play
    run = _script("agent/pretrained/tictactoe.pt", "--games", "0", "--perfect-sims", "4", "--keep-rewards",
                  "--no-snap", "--json", str(out))
    assert run.returncode == 0, run.stderr[-2000:]
    search = json.loads(out.read_text())["perfect_search"]
    assert search["sims"] == 4 and search["positions"] == 4520
    for root in ("puct", "puct+rules"):
        assert 0 <= search[root]["allows_win_in_one"] <= search[root]["mistakes"] < 4520 / 10
    assert "Every tic-tac-toe position searched with 4 simulations" in run.stdout
    for bad in (["agent/pretrained/tictactoe.pt", "--pons"], ["agent/pretrained/tictactoe.pt", "--depth", "0"],
                ["agent/pretrained/connect_four.pt", "--games", "0", "--perfect-sims", "4"],
                [str(tmp_path / "missing.pt")]):
        refused = _script(*bad)
        assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr


def test_one_start_per_trajectory_unrolls_from_the_positions_themselves():
    games = _random_games(5, seed=2)
    table = measure_fidelity(RulesNetwork("ends"), GAME, games, max_depth=3, first_plies=[2] * 5,
                             starts_per_trajectory=1)
    assert table.pairs[0] == 5 and table.pairs[1] == sum(len(game) > 3 for game in games)
    assert all(entry["legal_accuracy"] in (None, 1.0) for entry in table.ends)


def test_the_board_models_end_detector_is_counted_on_the_predicted_positions():
    """A detector that reads every position as won: every win is found (recall 1) and every other
    legal move is a false win; a network without one counts nothing for it."""
    import torch

    from agent.config import NetworkConfig
    from agent.networks import MuZeroNetwork
    from selfplay.end_fidelity import count_ends

    torch.manual_seed(0)
    network = MuZeroNetwork(GAME, NetworkConfig(channels=8, representation_blocks=1, prediction_blocks=1,
                                                head_hidden=16, dynamics="board", board_ends=True,
                                                board_ends_kernel=3)).eval()
    with torch.no_grad():
        network.board_ends.fc2.weight.zero_()
        network.board_ends.fc2.bias.copy_(torch.tensor([-20.0, 20.0, -20.0, -20.0]))
    states = [GAME.initial_state().play(0).play(3).play(1).play(4)]          # X to move wins at 2
    planes = torch.from_numpy(np.stack([state.planes() for state in states]))
    legal = np.stack([state.legal_mask() for state in states])
    ends = np.stack([state.action_ends() for state in states])
    with torch.no_grad():
        counts = count_ends(network, network.initial(planes)[0], legal, ends).as_dict()
    assert counts["detector_win_recall"] == 1.0 and counts["detector_win_tp"] >= 1
    assert counts["detector_win_fp"] == int(legal.sum()) - counts["detector_win_tp"]
    plain = MuZeroNetwork(GAME, NetworkConfig(channels=8, representation_blocks=1, prediction_blocks=1)).eval()
    with torch.no_grad():
        assert count_ends(plain, plain.initial(planes)[0], legal, ends).as_dict()["detector_win_recall"] is None


class _BoardG(torch.nn.Module):
    """A stand-in for the board model's g over tic-tac-toe's planes (the mover's stones, the
    other's): ``rules`` plays the move and hands the turn over, as the game does; otherwise the
    board is left as it was, wrong after every move."""

    def __init__(self, rules: bool) -> None:
        super().__init__()
        self.rules = rules

    def forward(self, planes, action_planes):
        after = torch.cat([planes[:, 1:2], planes[:, 0:1] + action_planes], dim=1) if self.rules else planes
        return 40.0 * (after - 0.5)


def test_boards_exact_is_the_share_of_gs_boards_equal_to_the_real_ones():
    from agent.config import NetworkConfig
    from agent.networks import MuZeroNetwork

    torch.manual_seed(0)
    small = dict(channels=8, representation_blocks=1, prediction_blocks=1, head_hidden=16)
    network = MuZeroNetwork(GAME, NetworkConfig(dynamics="board", **small)).eval()
    games = _random_games(6, seed=3)
    network.board_dynamics = _BoardG(rules=True)
    assert measure_fidelity(network, GAME, games, max_depth=3, ends=False).boards_exact == (1.0,) * 4
    network.board_dynamics = _BoardG(rules=False)
    stale = measure_fidelity(network, GAME, games, max_depth=3, ends=False)
    assert stale.boards_exact == (1.0, 0.0, 0.0, 0.0) and stale.as_dict()["boards_exact"] == [1.0, 0.0, 0.0, 0.0]
    latent = MuZeroNetwork(GAME, NetworkConfig(**small)).eval()
    assert measure_fidelity(latent, GAME, games, max_depth=2, ends=False).boards_exact == ()
