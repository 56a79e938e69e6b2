"""`ponder play` through a pipe: scripted stdin in, the plain-text transcript out.

Most tests drive the real command (`scripts.ponder.main`) with ``sys.stdin`` swapped for
a script of typed lines. Tests of the analysis display use a fake agent whose search
result is fixed, so the printed percentages can be checked exactly; one test plays a whole
game against a tiny random-weights checkpoint written with the checkpoint API.
"""
from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import envs
from agent import play as play_module
from agent.agent import ActResult
from agent.board_view import BoardView, agent_move_lines, hint_lines, wants_color
from agent.play import AgentOpponent, BaselineOpponent, PlaySession
from envs.players import parse_player
from scripts.ponder import main

REPO = Path(__file__).resolve().parents[2]


def run_play(monkeypatch, capsys, argv: list[str], typed: str) -> tuple[int, str, str]:
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setattr(sys, "stdin", io.StringIO(typed))
    status = main(["play", *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def agent_move_reports(out: str) -> list[tuple[str, str]]:
    """(move line, details line) of every agent move in a transcript."""
    lines = out.splitlines()
    return [(line, lines[i + 1]) for i, line in enumerate(lines) if line.startswith("the agent plays")]


def every_move_script(game_moves: list[str], repeats: int) -> str:
    """Type every move again and again: illegal ones are refused, so a game always finishes."""
    return "\n".join(game_moves * repeats) + "\n"


# ------------------------------------------------------------------ baseline opponent, real command
def test_garbage_and_illegal_moves_get_one_line_each_and_the_game_goes_on(monkeypatch, capsys):
    status, out, err = run_play(monkeypatch, capsys, ["--game", "tictactoe", "--opponent", "heuristic"],
                                "5\nxyzzy\n0\n5\nsims\nhint\n\n[red]\n")
    assert status == 0 and err == ""
    lines = out.splitlines()
    garbage = [line for line in lines if line.startswith("not a move or a command")]
    illegal = [line for line in lines if line.startswith("illegal move")]
    assert len(garbage) == 3  # xyzzy, 0 (off the board), [red]
    assert "'xyzzy'" in garbage[0] and "'[red]'" in garbage[2]
    assert illegal == ["illegal move: 5 cannot be played in this position"]
    assert any(line.startswith("sims: 'heuristic' is not an agent") for line in lines)
    assert any(line.startswith("no hint: 'heuristic' is not an agent") for line in lines)
    assert "Traceback" not in out
    assert "\x1b[" not in out  # piped and NO_COLOR: plain text only


def test_full_game_against_heuristic_reaches_a_result_and_scores_it(monkeypatch, capsys):
    squares = [str(square) for square in range(1, 10)]
    status, out, _ = run_play(monkeypatch, capsys, ["--game", "tictactoe", "--opponent", "heuristic", "--seed", "3"],
                              every_move_script(squares, 2))
    assert status == 0
    verdicts = [line for line in out.splitlines() if line.startswith("game over: ")]
    assert len(verdicts) == 1
    verdict = verdicts[0]
    assert any(word in verdict for word in ("you win", "the agent wins", "draw"))
    assert "score after 1 game:" in verdict
    # after the game, moves are refused until `new`
    assert "the game is over:" in out
    assert out.rstrip().splitlines()[-1].startswith("score after 1 game:")


def test_connect_four_full_game_with_agent_first(monkeypatch, capsys):
    columns = [str(column) for column in range(1, 8)]
    status, out, _ = run_play(monkeypatch, capsys,
                              ["--game", "connect_four", "--opponent", "heuristic", "--agent-first"],
                              every_move_script(columns, 8))
    assert status == 0
    assert out.count("game over: ") == 1
    first_opponent_line = next(i for i, line in enumerate(out.splitlines()) if line.startswith("heuristic plays"))
    first_prompt = next(i for i, line in enumerate(out.splitlines()) if "your turn>" in line)
    assert first_opponent_line < first_prompt  # the opponent moved before the human was asked


def _boards(out: str) -> list[str]:
    """The tic-tac-toe boards printed, each as its 5 lines joined."""
    lines, rule = out.splitlines(), "---+---+---"
    return ["\n".join(lines[i:i + 5]) for i in range(len(lines) - 4) if lines[i + 1] == rule == lines[i + 3]]


def test_undo_takes_back_the_move_pair_and_restores_the_board(monkeypatch, capsys):
    game = envs.get_game("tictactoe")
    status, out, _ = run_play(monkeypatch, capsys, ["--game", "tictactoe", "--opponent", "heuristic"],
                              "5\nundo\nundo\n")
    assert status == 0
    boards = _boards(out)
    empty = game.initial_state().render()
    assert boards[0] == empty and boards[-1] == empty and len(boards) == 3
    assert "X" in boards[1]
    assert any(line.startswith("took back 5 ") for line in out.splitlines())
    assert "nothing to undo" in out


def test_undo_after_a_finished_game_takes_the_result_out_of_the_score():
    game = envs.get_game("tictactoe")
    output = io.StringIO()
    # the opponent always takes the lowest free action id (squares 1, then 4): X 5, 3, 7 wins a diagonal
    session = PlaySession(game, LowestSquareOpponent(game), BoardView(output, color=False), human_player=0,
                          read_line=scripted(["5", "3", "7", "undo", "quit"]))
    assert session.play() == 0
    text = output.getvalue()
    assert "game over: you win · score after 1 game: you 1" in text
    assert text.rstrip().splitlines()[-1] == "score after 0 games: you 0 · agent 0 · draws 0"


def test_swap_makes_the_opponent_move_and_new_keeps_the_sides(monkeypatch, capsys):
    status, out, _ = run_play(monkeypatch, capsys, ["--game", "connect_four", "--opponent", "heuristic"],
                              "swap\n4\nnew\n")
    assert status == 0
    lines = out.splitlines()
    swap = next(i for i, line in enumerate(lines) if line.startswith("sides swapped"))
    assert lines[swap + 1].startswith("heuristic plays")  # the agent's turn right after the swap
    new = next(i for i, line in enumerate(lines) if line.startswith("new game: you move second"))
    assert lines[new - 1] == "the unfinished game is left unscored"
    assert lines[new + 1].startswith("heuristic plays")


def test_help_lists_every_command_and_quit_ends_with_status_zero(monkeypatch, capsys):
    status, out, _ = run_play(monkeypatch, capsys, ["--game", "connect_four", "--opponent", "random"],
                              "help\nquit\n4\n")
    assert status == 0
    for command in ("hint", "undo", "new", "swap", "sims N", "help", "quit"):
        assert f"  {command}" in out
    assert "e.g. 1, 7" in out
    assert "random plays" not in out  # quit stopped before the move after it


def test_ctrl_c_ends_cleanly_with_status_zero():
    game = envs.get_game("tictactoe")
    output = io.StringIO()

    def interrupted(prompt: str):
        raise KeyboardInterrupt

    session = PlaySession(game, LowestSquareOpponent(game), BoardView(output, color=False), 0, interrupted)
    assert session.play() == 0
    assert output.getvalue().rstrip().endswith("score after 0 games: you 0 · agent 0 · draws 0")


def test_a_real_pipe_plays_through_the_command_line():
    environment = dict(os.environ, NO_COLOR="1")
    completed = subprocess.run([sys.executable, "-m", "scripts.ponder", "play", "--game", "tictactoe",
                                "--opponent", "heuristic"], input="5\nbogus\n", capture_output=True,
                               text=True, cwd=REPO, env=environment, timeout=60)
    assert completed.returncode == 0, completed.stderr
    assert "heuristic plays" in completed.stdout
    assert "not a move or a command: 'bogus'" in completed.stdout
    assert completed.stderr == ""


# ------------------------------------------------------------------ usage errors: one line, exit 2
def test_no_shipped_agent_suggests_a_baseline_and_exits_2(monkeypatch, capsys):
    import agent.checkpoint

    monkeypatch.setattr(agent.checkpoint, "pretrained_path", lambda game_name: None)
    status, out, err = run_play(monkeypatch, capsys, ["--game", "connect_four"], "")
    assert status == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "--opponent heuristic" in err


@pytest.mark.parametrize("argv", [
    ["--game", "tictactoe", "--opponent", "nonsense"],
    ["--game", "no_such_game", "--opponent", "random"],
    ["--game", "tictactoe", "--opponent", "heuristic", "--sims", "10"],
    ["--game", "tictactoe", "--opponent", "heuristic", "--level", "easy"],
    ["--game", "tictactoe", "--checkpoint", "/nonexistent/run"],
    ["--game", "tictactoe", "--opponent", "agent:x.pt:many"],
])
def test_bad_options_are_one_line_and_exit_2(monkeypatch, capsys, argv):
    status, out, err = run_play(monkeypatch, capsys, argv, "")
    assert status == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_colour_only_on_a_terminal_without_no_color():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert wants_color(Terminal(), environ={}) is True
    assert wants_color(Terminal(), environ={"NO_COLOR": "1"}) is False
    assert wants_color(io.StringIO(), environ={}) is False
    coloured = io.StringIO()
    BoardView(coloured, color=True).say("the agent plays 4", "agent")
    assert "\x1b[" in coloured.getvalue()
    plain = io.StringIO()
    BoardView(plain, color=False).say("the agent plays 4", "agent")
    assert plain.getvalue() == "the agent plays 4\n"


# ------------------------------------------------------------------ fakes
def scripted(lines: list[str]):
    remaining = list(lines)

    def read_line(prompt: str):
        return remaining.pop(0) if remaining else None
    return read_line


class LowestSquareOpponent(BaselineOpponent):
    def __init__(self, game) -> None:
        super().__init__(parse_player("random", game, 0), "lowest")

    def choose(self, state):
        return int(np.flatnonzero(state.legal_mask())[0]), None


class FakeAgent:
    """Puts all but one visit on the lowest legal square; value 0.5 (win chance 75%)."""

    discount = 1.0

    def __init__(self, game) -> None:
        self.game = game
        self.searches: list[int] = []

    def new_session(self):
        return None   # no trees to keep

    def act(self, states, search, *, temperature=0.0, rng=None, session=None):
        sims = search if isinstance(search, int) else search.num_simulations
        self.searches.append(sims)
        legal = np.flatnonzero(states[0].legal_mask())
        visits = np.zeros((1, self.game.num_actions), dtype=np.int64)
        q_values = np.full((1, self.game.num_actions), np.nan)
        if sims:
            visits[0, legal[0]] = sims - 1
            q_values[0, legal[0]] = 0.2
            if len(legal) > 1:
                visits[0, legal[1]] = 1
                q_values[0, legal[1]] = -0.6
        prior = np.zeros((1, self.game.num_actions))
        prior[0, legal] = 1.0 / len(legal)
        return ActResult(np.array([legal[0]]), visits, visits / max(sims, 1), q_values,
                             np.array([0.5]), prior, sims + 1, 0.25)


def fake_agent_session(lines: list[str], sims: int = 20, human_player: int = 0):
    game = envs.get_game("tictactoe")
    fake = FakeAgent(game)
    output = io.StringIO()
    opponent = AgentOpponent(fake, sims=sims, root="puct", source="fake.pt", seed=0)
    session = PlaySession(game, opponent, BoardView(output, color=False), human_player, scripted(lines))
    return session, fake, output


def test_after_each_agent_move_win_chance_top_moves_sims_and_time():
    session, fake, output = fake_agent_session(["5"])
    assert session.play() == 0
    assert agent_move_reports(output.getvalue()) == [
        # tic-tac-toe square 1 is action 0; after X on 5 the lowest free squares are 1 then 4 (action 1)
        ("the agent plays 1 · its win chance 75%", "  top: 1 95% (win 60%), 4 5% (win 20%) · 20 sims in 0.25 s")]


def test_hint_analyses_the_humans_position_and_sims_changes_the_search():
    session, fake, output = fake_agent_session(["hint", "sims 0", "hint", "sims -3", "sims lots"])
    session.play()
    lines = output.getvalue().splitlines()
    hints = [(line, lines[i + 1]) for i, line in enumerate(lines) if line.startswith("hint:")]
    assert hints[0] == ("hint: the agent would play 1 · your win chance 75%",
                        "  top: 1 95% (win 60%), 4 5% (win 20%) · 20 sims in 0.25 s")
    assert hints[1] == ("hint: the agent would play 1 · your win chance 75%",
                        "  prior: 1 11%, 4 11%, 7 11% · policy only in 0.25 s")
    assert fake.searches == [20, 0]
    assert sum(line.startswith("sims needs one whole number") for line in lines) == 2


# ------------------------------------------------------------------ a real (tiny, random) agent
@pytest.fixture(scope="module")
def tiny_checkpoints(tmp_path_factory) -> dict[str, Path]:
    """Random-weights checkpoints of a tiny network, written with the checkpoint API."""
    import torch

    from agent.checkpoint import make_payload, save_checkpoint
    from agent.config import NetworkConfig
    from agent.networks import GameSpec, MuZeroNetwork

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny")
    tiny = NetworkConfig(channels=8, representation_blocks=1, dynamics_blocks=1, prediction_blocks=1,
                         head_hidden=8)
    paths = {}
    for name in ("tictactoe", "connect_four", "gomoku:board_size=9,win_length=5"):
        game = envs.get_game(name)
        network = MuZeroNetwork(GameSpec(game.observation_shape, game.num_actions), tiny)
        paths[game.name] = save_checkpoint(folder / f"{game.name}.pt", make_payload(network, game))
    return paths


def test_full_game_against_a_tiny_random_weights_checkpoint(monkeypatch, capsys, tiny_checkpoints):
    squares = [str(square) for square in range(1, 10)]
    status, out, err = run_play(monkeypatch, capsys, ["--game", "tictactoe", "--checkpoint",
                                                      str(tiny_checkpoints["tictactoe"]), "--sims", "4"],
                                "hint\n" + every_move_script(squares, 2))
    assert status == 0, err
    assert out.count("game over: ") == 1
    reports = agent_move_reports(out)
    assert reports and all("its win chance" in move and " · 4 sims in " in details for move, details in reports)
    assert any(line.startswith("hint: the agent would play") for line in out.splitlines())


def test_agent_player_string_as_opponent_with_gumbel_root(monkeypatch, capsys, tiny_checkpoints):
    spec = f"agent:{tiny_checkpoints['connect_four']}:3:gumbel"
    status, out, err = run_play(monkeypatch, capsys, ["--game", "connect_four", "--opponent", spec,
                                                      "--agent-first"], "4\nsims 0\n4\nquit\n")
    assert status == 0, err
    assert "3 sims, gumbel)" in out.splitlines()[0]
    details = [details for _, details in agent_move_reports(out)]
    assert len(details) == 3
    assert " · 3 sims in " in details[0] and " · 3 sims in " in details[1]
    assert details[2].startswith("  prior: ") and "policy only in" in details[2]


def test_a_checkpoint_of_another_game_is_one_line_and_exit_2(monkeypatch, capsys, tiny_checkpoints):
    status, out, err = run_play(monkeypatch, capsys, ["--game", "connect_four", "--checkpoint",
                                                      str(tiny_checkpoints["tictactoe"])], "")
    assert status == 2 and out == ""
    assert err.strip().endswith("is an agent for tictactoe, not for connect_four")


def test_a_bare_game_name_plays_the_checkpoints_options(monkeypatch, capsys, tiny_checkpoints):
    status, out, err = run_play(monkeypatch, capsys, ["--game", "gomoku", "--checkpoint",
                                                      str(tiny_checkpoints["gomoku"]), "--sims", "2"],
                                "e5\nquit\n")
    assert status == 0, err
    assert out.splitlines()[0].startswith("ponder play: gomoku (board_size=9, win_length=5) · ")
    assert "  a b c d e f g h i\n" in out and "the agent plays " in out


def test_options_spelled_out_must_be_the_checkpoints(monkeypatch, capsys, tiny_checkpoints):
    status, out, err = run_play(monkeypatch, capsys, ["--game", "gomoku:board_size=15", "--checkpoint",
                                                      str(tiny_checkpoints["gomoku"])], "")
    assert status == 2 and out == ""
    assert err.strip().endswith("is an agent for gomoku (board_size=9, win_length=5), "
                                "not for gomoku (board_size=15, win_length=5)")


def test_the_move_played_leads_its_tie_in_the_top_moves():
    from agent.play import analysis_from_act

    game = envs.get_game("connect_four")
    visits = np.array([[2, 2, 2, 2, 2, 0, 0]])
    prior = np.array([[0.1, 0.3, 0.1, 0.1, 0.2, 0.1, 0.1]])
    result = ActResult(np.array([3]), visits, visits / 10, np.zeros((1, 7)), np.array([-0.2]), prior, 11, 0.1)
    analysis = analysis_from_act(game, game.initial_state(), result, sims=10)
    assert [move.text for move in analysis.top_moves] == ["4", "2", "5"]  # played, then by prior
    assert analysis.win_probability == pytest.approx(0.4)
    assert analysis.top_moves[0].share == pytest.approx(0.2) and analysis.top_moves[0].win_probability == 0.5


def test_without_checkpoint_it_plays_the_shipped_agent(monkeypatch, capsys, tiny_checkpoints):
    import agent.checkpoint

    asked = []
    monkeypatch.setattr(agent.checkpoint, "pretrained_path",
                        lambda game_name: asked.append(game_name) or tiny_checkpoints["tictactoe"])
    status, out, err = run_play(monkeypatch, capsys, ["--game", "tictactoe", "--sims", "2"], "5\nquit\n")
    assert status == 0, err
    assert asked == ["tictactoe"]
    assert f"opponent: agent ({tiny_checkpoints['tictactoe']}, 2 sims, puct)" in out.splitlines()[0]
    assert len(agent_move_reports(out)) == 1


def test_a_proof_of_the_move_is_said_after_the_move_and_in_the_hint():
    from agent.play import analysis_from_act

    game = envs.get_game("tictactoe")
    state = game.state_from_actions([0, 3, 1, 4])          # X to move wins with square 3 (action 2)
    visits = np.array([[0, 0, 9, 0, 0, 1, 0, 0, 0]])
    proven = np.full((1, 9), 2, dtype=np.int8)
    proven[0, 2] = 1
    result = ActResult(np.array([2]), visits, visits / 10, np.zeros((1, 9)), np.array([0.9]),
                       np.full((1, 9), 0.2), 11, 0.1, proven=proven)
    analysis = analysis_from_act(game, state, result, sims=10)
    assert analysis.proven == "win"
    assert agent_move_lines("3", analysis, "the agent")[0] == \
        "the agent plays 3 · its win chance 95% · it has proven a win"
    assert hint_lines(analysis, "3")[0] == "hint: the agent would play 3 · your win chance 95% · proven: you win by force"
    unproven = analysis_from_act(game, state, ActResult(np.array([2]), visits, visits / 10, np.zeros((1, 9)),
                                                        np.array([0.9]), np.full((1, 9), 0.2), 11, 0.1), sims=10)
    assert unproven.proven is None and "proven" not in agent_move_lines("3", unproven, "the agent")[0]


@pytest.mark.parametrize("extra, sims", [([], 200), (["--level", "easy"], 8), (["--level", "policy"], 0),
                                         (["--level", "max", "--sims", "3"], 3)])
def test_the_level_sets_the_agents_simulations_and_strong_is_the_default(monkeypatch, capsys, tiny_checkpoints,
                                                                         extra, sims):
    status, out, err = run_play(monkeypatch, capsys, ["--game", "tictactoe", "--checkpoint",
                                                      str(tiny_checkpoints["tictactoe"]), "--agent-first", *extra],
                                "quit\n")
    assert status == 0, err
    assert f"{sims} sims" in out.splitlines()[0]


def test_the_thinking_spinner_shows_on_a_terminal_only():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    piped = BoardView(io.StringIO(), color=False)
    with piped.thinking("agent is thinking"):
        pass
    assert piped.stream.getvalue() == ""
    shown = BoardView(Terminal(), color=True)
    with shown.thinking("agent is thinking"):
        pass
    assert "thinking" in shown.stream.getvalue()


def test_othello_says_when_the_human_must_pass_and_takes_the_pass():
    game = envs.get_game("othello")
    rng = np.random.default_rng(3)
    while True:   # a random game until the side to move has only the pass
        state = game.initial_state()
        while not state.is_terminal() and state.legal_actions() != [game.pass_action]:
            state = state.play(int(rng.choice(state.legal_actions())))
        if not state.is_terminal():
            break
    output = io.StringIO()
    session = PlaySession(game, LowestSquareOpponent(game), BoardView(output, color=False),
                          human_player=state.to_play, read_line=scripted([]))
    session.states.append(state)
    assert session._prompt() == f"move {len(state.history) + 1}, you have no move: type pass> "
    assert "has no move and must pass" in state.render()
    session.handle("pass")
    assert session.states[2].history[-1] == game.pass_action   # [initial, the pass position, after it]
