"""The end detector trained alone on positions the rules generate (`selfplay.end_detector`)."""
import numpy as np
import pytest
import torch

from agent.config import NetworkConfig
from agent.networks import MuZeroNetwork
from envs import get_game
from envs.game import END_DRAW, END_NONE, END_WIN
from selfplay.end_detector import _avoiding_move, fit_end_detector, generate_end_examples

LINES = [[(r, c) for c in range(3)] for r in range(3)] + [[(r, c) for r in range(3)] for c in range(3)] \
    + [[(i, i) for i in range(3)], [(i, 2 - i) for i in range(3)]]


def tictactoe_class(planes: np.ndarray) -> int:
    """An independent reading of a tic-tac-toe position after a move: the mover's stones are
    plane 1 (the player to move next owns plane 0)."""
    mover = planes[1]
    if any(all(mover[r, c] for r, c in line) for line in LINES):
        return END_WIN
    return END_DRAW if (planes[0] + planes[1]).sum() == 9 else END_NONE


def test_generated_examples_carry_the_rules_labels():
    game = get_game("tictactoe")
    examples = generate_end_examples(game, 3000, np.random.default_rng(0))
    assert len(examples) >= 3000 and examples.planes.dtype == np.uint8
    assert examples.planes.shape[1:] == game.observation_shape
    assert {END_NONE, END_WIN, END_DRAW} <= set(examples.classes.tolist())
    independent = np.array([tictactoe_class(planes) for planes in examples.planes])
    assert (independent == examples.classes).all()
    assert set(examples.ended.tolist()) == set(np.flatnonzero(examples.classes != END_NONE).tolist())


@pytest.mark.parametrize("name", ["tictactoe", "connect_four"])
def test_an_avoiding_move_neither_ends_the_game_nor_hands_over_a_win_when_it_can(name):
    game, rng = get_game(name), np.random.default_rng(1)
    checked = 0
    for _ in range(30):
        state = game.initial_state()
        while not state.is_terminal():
            legal = state.legal_actions()
            safe = [a for a in legal if not state.play(a).is_terminal() and not state.play(a).winning_actions()]
            action = _avoiding_move([(a, state.play(a)) for a in legal], rng)
            assert action in legal and (action in safe or not safe)
            checked += bool(safe)
            state = state.play(int(rng.choice(legal)))
    assert checked > 20


def test_the_detector_alone_learns_tictactoe_ends_and_nothing_else_moves(one_torch_thread):
    """800 steps on generated positions (precision and recall 1.0 on fresh ones when written)."""
    game = get_game("tictactoe")
    torch.manual_seed(0)
    network = MuZeroNetwork(game, NetworkConfig(channels=8, representation_blocks=1, dynamics_blocks=1,
                                                prediction_blocks=1, head_hidden=16, action_heads=True,
                                                dynamics="board", board_ends=True, board_ends_kernel=3))
    before = {name: tensor.clone() for name, tensor in network.state_dict().items()}
    progress = fit_end_detector(network, game, steps=800, examples=10_000, learning_rate=1e-2,
                                symmetries="dihedral", batch=256)
    assert progress.steps == 800 and progress.examples >= 10_000 and np.isfinite(progress.loss)
    for name, tensor in network.state_dict().items():
        assert torch.equal(tensor, before[name]) != name.startswith("board_ends."), name
    fresh = generate_end_examples(game, 5000, np.random.default_rng(99))
    with torch.no_grad():
        logits = network.board_ends(torch.from_numpy(fresh.planes.astype(np.float32)))
    predicted = torch.softmax(logits, -1).argmax(-1).numpy()
    real_end, read_end = fresh.classes != END_NONE, predicted != END_NONE
    found = (real_end & read_end & (predicted == fresh.classes)).sum()
    assert found / real_end.sum() > 0.95 and found / read_end.sum() > 0.95


def test_the_detector_fit_needs_a_detector_and_one_budget():
    game = get_game("tictactoe")
    plain = MuZeroNetwork(game, NetworkConfig(channels=8, action_heads=True, dynamics="board"))
    with pytest.raises(ValueError, match="no end detector"):
        fit_end_detector(plain, game, steps=1, examples=10, learning_rate=1e-3)
    with_detector = MuZeroNetwork(game, NetworkConfig(channels=8, action_heads=True, dynamics="board",
                                                      board_ends=True, board_ends_kernel=3))
    with pytest.raises(ValueError, match="not both"):
        fit_end_detector(with_detector, game, steps=1, minutes=1.0, examples=10, learning_rate=1e-3)


def test_the_data_comparison_script_prints_a_row_per_setting(capsys, one_torch_thread):
    from scripts.end_detector_data import main

    assert main(["--examples", "1500", "--avoiding", "0,1", "--steps", "3", "--positions", "1"]) == 0
    table = capsys.readouterr().out.strip().splitlines()
    assert table[0].startswith("| examples |") and len(table) == 4
    assert "| 0% |" in table[2] and "| 100% |" in table[3]
    assert main(["--examples", "many"]) == 2


def test_generating_in_chunks_gives_the_same_pool(monkeypatch):
    import selfplay.end_detector as end_detector

    game = get_game("tictactoe")
    whole = generate_end_examples(game, 2000, np.random.default_rng(4))
    monkeypatch.setattr(end_detector, "CHUNK", 300)
    chunked = generate_end_examples(game, 2000, np.random.default_rng(4))
    assert chunked.planes.dtype == np.uint8 and np.array_equal(chunked.planes, whole.planes)
    assert np.array_equal(chunked.classes, whole.classes)


def test_a_detector_is_kept_only_when_it_reads_fresh_positions_right(one_torch_thread):
    """One step leaves the detector guessing: it is removed from the network (the search then
    reads the heads' ends) and the bookkeeping says so; 800 steps make one that is kept."""
    from selfplay.config import ModelFitConfig
    from selfplay.model_fit import fit_detector_phase

    game = get_game("tictactoe")
    config = ModelFitConfig(minutes=1.0, board_ends=True, board_ends_minutes=1.0, board_ends_examples=10_000)
    for steps, kept in ((1, False), (800, True)):
        torch.manual_seed(0)
        network = MuZeroNetwork(game, NetworkConfig(channels=8, representation_blocks=1, dynamics_blocks=1,
                                                    prediction_blocks=1, head_hidden=16, action_heads=True,
                                                    dynamics="board", board_ends=True, board_ends_kernel=3))
        notes = []
        extra = fit_detector_phase(network, game, config, "dihedral", report=lambda p: notes.append(p.note),
                                   steps=steps)
        assert extra["board_ends_kept"] is kept and extra["board_ends_steps"] == steps
        assert (network.board_ends is not None) is kept and network.config.board_ends is kept
        assert any(name.startswith("board_ends.") for name in network.state_dict()) is kept
        precision, recall = extra["board_ends_check_precision"], extra["board_ends_check_recall"]
        assert (min(precision, recall) >= 0.99) is kept
        assert [note for note in notes if note] == [next(note for note in notes if note)]   # one verdict
        assert ("NOT kept" in next(note for note in notes if note)) is not kept
