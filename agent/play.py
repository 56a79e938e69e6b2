"""`ponder play`: play a game against the agent (or any PLAYER) in a terminal or through a pipe.

The human types moves in the game's natural coordinates ("4", "d4", "pass") or a command
(hint, undo, new, swap, sims N, help, quit). After each agent move it prints the agent's
win chance, its top moves with their share of the search, and the simulations and time it
used. Input that is neither a legal move nor a command gets one line saying why; Ctrl-C or
the end of input ends the session with status 0. The same loop reads a pipe, which is how
the tests play whole games.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
from dataclasses import replace
from typing import IO, Callable, Protocol

from agent.board_view import Analysis, BoardView, MoveShare, Score, agent_move_lines, help_text, hint_lines, \
    score_line, wants_color
from agent.player import AGENT_PREFIX, check_searchable, agent_default_root, parse_agent_spec
from agent.roots import ROOTS
from envs.errors import UsageError
from mcts.config import DRAW, LOSS, WIN

MAX_SIMS = 100_000
TOP_MOVES_SHOWN = 3
# `--level`: the agent's simulations per move. "strong" is the budget the shipped agents are
# measured at (docs/play.md gives each level's measured strength); it is the default.
LEVELS: dict[str, int] = {"policy": 0, "easy": 8, "medium": 50, "strong": 200, "max": 800}
DEFAULT_LEVEL = "strong"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--game", required=True, help="the game to play (see `ponder games`)")
    who = parser.add_mutually_exclusive_group()
    who.add_argument("--checkpoint", metavar="PATH",
                     help="the agent to play: a checkpoint file or a run folder "
                          "(default: the agent shipped for the game, if there is one)")
    who.add_argument("--opponent", metavar="PLAYER",
                     help="play any PLAYER instead: random, heuristic, alphabeta:D, rollout-mcts:N, perfect, "
                          "agent:PATH[:SIMS[:ROOT]]")
    parser.add_argument("--sims", type=int, metavar="S",
                        help="the agent's simulations per move, 0 = network policy only (default: the --level's)")
    parser.add_argument("--level", choices=list(LEVELS),
                        help="the agent's strength as a simulation budget: "
                             + ", ".join(f"{name} {sims}" for name, sims in LEVELS.items())
                             + f" (default {DEFAULT_LEVEL}; --sims overrides it)")
    parser.add_argument("--root", choices=ROOTS,
                        help="the agent's root selection (default puct, over the rules if it was trained over them)")
    side = parser.add_mutually_exclusive_group()
    side.add_argument("--human-first", dest="human_first", action="store_true", default=True,
                      help="you make the first move (the default)")
    side.add_argument("--agent-first", dest="human_first", action="store_false",
                      help="the opponent makes the first move")
    parser.add_argument("--seed", type=int, default=0, help="seeds the opponent's randomness (default 0)")


class Opponent(Protocol):
    """The other side of the board: it chooses moves, and analyses positions if it is an agent."""

    label: str            # shown in the intro, e.g. "agent (run/checkpoints/latest.pt, 100 sims, puct)"
    can_analyse: bool     # False for baseline players: no win chance, no hint, no sims

    def choose(self, state) -> tuple[int, Analysis | None]: ...

    def analyse(self, state) -> Analysis: ...

    def set_sims(self, sims: int) -> None: ...


class AgentOpponent:
    """The learned agent: every move is a search whose numbers `ponder play` shows.

    It plays through `AgentPlayer` with the arena's deterministic search (no root or Gumbel
    noise; 0 = policy only), so in play the agent shows the judgement it is measured by,
    and with tree reuse: each search starts from what the last one found below this
    position (`agent.reuse`), so the agent keeps the thinking it did on earlier moves.
    """

    can_analyse = True

    def __init__(self, agent, sims: int, root: str, source: str, seed: int) -> None:
        from agent.player import AgentPlayer

        # checked as if searching: the simulations can be raised from 0 during play
        check_searchable(agent, max(sims, 1), root)
        self.player = AgentPlayer(agent, sims, root, reuse=True, seed=seed)
        self.game = agent.game
        self.source = source

    @property
    def sims(self) -> int:
        return self.player.sims

    @property
    def root(self) -> str:
        return self.player.root

    @property
    def label(self) -> str:
        return f"agent ({self.source}, {self.sims} sims, {self.root})"

    def set_sims(self, sims: int) -> None:
        self.player.set_sims(sims)

    def warm_up(self) -> None:
        """One search before the game, so one-off start-up costs (torch's first calls) do not
        inflate the time shown for the agent's first move."""
        self.analyse(self.game.initial_state())

    def analyse(self, state) -> Analysis:
        return analysis_from_act(self.game, state, self.player.search_batch([state]), self.sims)

    def choose(self, state) -> tuple[int, Analysis]:
        analysis = self.analyse(state)
        return analysis.action, analysis


class BaselineOpponent:
    """A PLAYER without a network (heuristic, alphabeta, ...): it moves but cannot explain."""

    can_analyse = False

    def __init__(self, player, spec: str) -> None:
        self.player = player
        self.label = spec

    def set_sims(self, sims: int) -> None:
        raise UsageError(f"the opponent {self.label!r} is not an agent: it has no simulations to set")

    def analyse(self, state) -> Analysis:
        raise UsageError(f"no analysis: the opponent {self.label!r} is not an agent (play one with --checkpoint)")

    def choose(self, state) -> tuple[int, None]:
        return int(self.player.act_batch([state])[0]), None


PROOF_NAMES = {WIN: "win", DRAW: "draw", LOSS: "loss"}   # SearchOutput.proven codes (else unproven)


def analysis_from_act(game, state, result, sims: int) -> Analysis:
    """Turn the first row of an ``ActResult`` into what the player sees.

    Shares are of root visits; with 0 simulations (policy only) there are no visits, so the
    shares are the prior over legal moves. Values are from the view of the player to move.
    """
    import numpy as np

    legal = np.asarray(state.legal_mask(), dtype=bool)
    visits = np.asarray(result.visit_counts[0], dtype=np.float64) * legal
    if sims > 0 and visits.sum() > 0:
        shares, share_kind = visits / visits.sum(), "visits"
    else:
        legal_prior = np.asarray(result.prior[0], dtype=np.float64) * legal
        total = legal_prior.sum()
        shares = legal_prior / total if total > 0 else legal / max(legal.sum(), 1)
        share_kind = "prior"
    q_values = np.asarray(result.q_values[0], dtype=np.float64)
    prior = np.asarray(result.prior[0], dtype=np.float64)
    chosen = int(result.actions[0])
    # Among equal shares (common after few simulations) the move played comes first, then the prior's
    # favourite, so the move shown as played is listed whenever it is tied for the top.
    ranked = sorted(np.flatnonzero(legal), key=lambda action: (-shares[action], action != chosen, -prior[action]))
    top = []
    for action in ranked[:TOP_MOVES_SHOWN]:
        if shares[action] <= 0 and top:
            break
        q = q_values[action]
        top.append(MoveShare(game.action_to_text(int(action)), float(shares[action]),
                             None if math.isnan(q) or share_kind == "prior" else (float(q) + 1.0) / 2.0))
    root_value = float(result.root_value[0])
    proven = None if result.proven is None else PROOF_NAMES.get(int(result.proven[0, chosen]))
    return Analysis(action=chosen, win_probability=min(1.0, max(0.0, (root_value + 1.0) / 2.0)),
                    top_moves=tuple(top), share_kind=share_kind, sims=sims, seconds=float(result.seconds),
                    proven=proven)


def game_words(game) -> str:
    """'gomoku (board_size=9, win_length=5)': the game and its options, for messages."""
    options = ", ".join(f"{key}={value}" for key, value in sorted(dict(game.options).items()))
    return f"{game.name} ({options})" if options else game.name


def _game_text_action(game, text: str) -> int | None:
    try:
        return game.text_to_action(text)
    except ValueError:
        return None


class PlaySession:
    """One human against one opponent on one game: the state history, sides, score and commands.

    ``states[-1]`` is the position on the board; undo pops states. ``read_line(prompt)``
    returns the next typed line, or None at the end of input.
    """

    def __init__(self, game, opponent: Opponent, view: BoardView, human_player: int,
                 read_line: Callable[[str], str | None]) -> None:
        self.game = game
        self.opponent = opponent
        self.view = view
        self.human_player = human_player
        self.read_line = read_line
        self.states = [game.initial_state()]
        self.score = Score()
        self.scored_current_game = False
        self._board_shown = False
        self._has_pass = _game_text_action(game, "pass") is not None
        self.commands: dict[str, Callable[[list[str]], bool]] = {
            "hint": self.cmd_hint, "undo": self.cmd_undo, "new": self.cmd_new, "swap": self.cmd_swap,
            "sims": self.cmd_sims, "help": self.cmd_help, "?": self.cmd_help, "quit": self.cmd_quit,
            "exit": self.cmd_quit, "q": self.cmd_quit,
        }

    # ----------------------------------------------------------------------------- the loop
    @property
    def state(self):
        return self.states[-1]

    def play(self) -> int:
        """Run until quit, end of input or Ctrl-C; always status 0 (the human chose to stop)."""
        try:
            self.view.say(f"ponder play: {game_words(self.game)} · you move {self._side_words()} · "
                          f"opponent: {self.opponent.label}")
            self.view.say("type a move, or `help` for the commands", "dim")
            self._opponent_moves_while_its_turn()
            while True:
                if not self._board_shown:
                    self.view.board(self.state.render(color=self.view.color))
                    self._board_shown = True
                line = self.read_line(self._prompt())
                if line is None:
                    self.view.say("")
                    break
                if not self.handle(line):
                    break
        except KeyboardInterrupt:
            self.view.say("")
        self.view.say(score_line(self.score), "result")
        return 0

    def handle(self, line: str) -> bool:
        """Act on one typed line; False when the session should end."""
        words = line.strip().split()
        if not words:
            return True
        command = self.commands.get(words[0].lower())
        if command is not None:
            return command(words[1:])
        self._human_move(line.strip())
        return True

    def _prompt(self) -> str:
        if self.state.is_terminal():
            return "game over (new, undo, swap, quit)> "
        legal = self.state.legal_actions()
        if len(legal) == 1 and self.game.action_to_text(int(legal[0])) == "pass":
            return f"move {len(self.state.history) + 1}, you have no move: type pass> "
        return f"move {len(self.state.history) + 1}, your turn> "

    def _side_words(self) -> str:
        return "first" if self.human_player == 0 else "second"

    # ----------------------------------------------------------------------------- moves
    def _human_move(self, text: str) -> None:
        if self.state.is_terminal():
            self.view.say(f"the game is over: {text!r} is not played (type new, undo, swap or quit)", "warn")
            return
        try:
            action = self.game.text_to_action(text)
        except ValueError as error:  # UsageError is one; a generic adapter may raise a plain ValueError
            self.view.say(f"not a move or a command: {error} (type help)", "warn")
            return
        legal = self.state.legal_mask()
        if not 0 <= action < len(legal) or not legal[action]:
            self.view.say(f"illegal move: {self.game.action_to_text(action)} cannot be played in this position",
                          "warn")
            return
        self._push(action)
        self._opponent_moves_while_its_turn()

    def _push(self, action: int) -> None:
        self.states.append(self.state.play(action))
        self._board_shown = False
        if self.state.is_terminal():
            self._finish_game()

    def _opponent_moves_while_its_turn(self) -> None:
        while not self.state.is_terminal() and self.state.to_play != self.human_player:
            with self.view.thinking(f"{self.opponent.label} is thinking"):
                action, analysis = self.opponent.choose(self.state)
            move_text = self.game.action_to_text(action)
            name = "the agent" if self.opponent.can_analyse else self.opponent.label
            for line in agent_move_lines(move_text, analysis, name):
                self.view.say(line, "agent")
            self._push(action)

    def _finish_game(self) -> None:
        winner = self.state.winner()
        if winner is None:
            self.score, verdict = replace(self.score, draws=self.score.draws + 1), "draw"
        elif winner == self.human_player:
            self.score, verdict = replace(self.score, human_wins=self.score.human_wins + 1), "you win"
        else:
            self.score, verdict = replace(self.score, agent_wins=self.score.agent_wins + 1), "the agent wins"
        self.scored_current_game = True
        self.view.board(self.state.render(color=self.view.color))
        self._board_shown = True
        self.view.say(f"game over: {verdict} · {score_line(self.score)}", "result")
        self.view.say("type new for another game, undo to take back, swap to change sides, quit to stop", "dim")

    def _unscore(self) -> None:
        """Undo of a finished game takes its result back out of the score."""
        if not self.scored_current_game:
            return
        winner = self.state.winner()
        if winner is None:
            self.score = replace(self.score, draws=self.score.draws - 1)
        elif winner == self.human_player:
            self.score = replace(self.score, human_wins=self.score.human_wins - 1)
        else:
            self.score = replace(self.score, agent_wins=self.score.agent_wins - 1)
        self.scored_current_game = False

    # ----------------------------------------------------------------------------- commands
    def _no_arguments(self, name: str, arguments: list[str]) -> bool:
        if arguments:
            self.view.say(f"{name} takes no argument (type help)", "warn")
            return False
        return True

    def cmd_hint(self, arguments: list[str]) -> bool:
        if not self._no_arguments("hint", arguments):
            return True
        if self.state.is_terminal():
            self.view.say("no hint: the game is over", "warn")
        elif not self.opponent.can_analyse:
            self.view.say(f"no hint: {self.opponent.label!r} is not an agent and has no analysis "
                          "(play one with --checkpoint)", "warn")
        else:
            analysis = self.opponent.analyse(self.state)
            for line in hint_lines(analysis, self.game.action_to_text(analysis.action)):
                self.view.say(line, "human")
        return True

    def cmd_undo(self, arguments: list[str]) -> bool:
        """Go back to the last earlier position where the human was to move (their move and the reply)."""
        if not self._no_arguments("undo", arguments):
            return True
        target = None
        for index in range(len(self.states) - 2, -1, -1):
            earlier = self.states[index]
            if not earlier.is_terminal() and earlier.to_play == self.human_player:
                target = index
                break
        if target is None:
            self.view.say("nothing to undo: you have not moved yet in this game", "warn")
            return True
        self._unscore()
        taken = [self.game.action_to_text(action) for action in self.state.history[target:]]
        del self.states[target + 1:]
        self._board_shown = False
        self.view.say(f"took back {' '.join(taken)}", "info")
        return True

    def cmd_new(self, arguments: list[str]) -> bool:
        if not self._no_arguments("new", arguments):
            return True
        if not self.state.is_terminal() and self.state.history:
            self.view.say("the unfinished game is left unscored", "dim")
        self.states = [self.game.initial_state()]
        self.scored_current_game = False
        self._board_shown = False
        self.view.say(f"new game: you move {self._side_words()}", "info")
        self._opponent_moves_while_its_turn()
        return True

    def cmd_swap(self, arguments: list[str]) -> bool:
        if not self._no_arguments("swap", arguments):
            return True
        self.human_player = 1 - self.human_player
        if self.state.is_terminal():
            self.view.say(f"sides swapped: you will move {self._side_words()} in the next game (type new)", "info")
            return True
        self.view.say(f"sides swapped: you now play the side that moves {self._side_words()}", "info")
        self._board_shown = False
        self._opponent_moves_while_its_turn()
        return True

    def cmd_sims(self, arguments: list[str]) -> bool:
        if not self.opponent.can_analyse:
            self.view.say(f"sims: {self.opponent.label!r} is not an agent and has no simulations", "warn")
            return True
        if len(arguments) != 1 or not arguments[0].isdigit() or int(arguments[0]) > MAX_SIMS:
            self.view.say(f"sims needs one whole number from 0 to {MAX_SIMS}, e.g. `sims 200`", "warn")
            return True
        self.opponent.set_sims(int(arguments[0]))
        self.view.say(f"the agent now searches {int(arguments[0])} simulations per move"
                      + (" (0: network policy only)" if int(arguments[0]) == 0 else ""), "info")
        return True

    def cmd_help(self, arguments: list[str]) -> bool:
        examples = [self.game.action_to_text(action) for action in (0, self.game.num_actions - 1)
                    if self.game.action_to_text(action) != "pass"]
        self.view.say(help_text(examples, self._has_pass), "dim")
        return True

    def cmd_quit(self, arguments: list[str]) -> bool:
        return False


# --------------------------------------------------------------------------------- setup
def line_reader(stream: IO[str], view: BoardView) -> Callable[[str], str | None]:
    """A ``read_line(prompt)``: line editing with ``input`` on a terminal; on a pipe, the
    prompt and the line read are echoed to the output so the transcript reads like a game."""
    if stream is sys.stdin and stream.isatty() and sys.stdout.isatty():
        def read_interactive(prompt: str) -> str | None:
            view.prompt(prompt)
            try:
                return input()
            except EOFError:
                return None
        return read_interactive

    def read_piped(prompt: str) -> str | None:
        view.prompt(prompt)
        line = stream.readline()
        if not line:
            return None
        view.say(line.rstrip("\n"))
        return line
    return read_piped


def _load_agent(path: str, game, options_given: bool = False):
    """The agent at ``path``, for ``game``. A bare game name plays the checkpoint's own options (a
    9x9 gomoku, say); options spelled out in --game must be the checkpoint's, or the user would
    silently get another board than the one asked for."""
    from agent.checkpoint import resolve_checkpoint_path

    resolve_checkpoint_path(path)  # a missing file is one line before the agent's imports are paid for
    from agent.agent import Agent

    agent = Agent.load(path, device="cpu")  # the checkpoint's own game, options included
    if agent.game.name != game.name or (options_given and dict(agent.game.options) != dict(game.options)):
        raise UsageError(f"{path} is an agent for {game_words(agent.game)}, not for {game_words(game)}")
    return agent


def _shipped_agent_path(game) -> str:
    from agent.checkpoint import pretrained_path

    path = pretrained_path(game.name)
    if path is None:
        raise UsageError(f"no agent is shipped for {game.name}: play a baseline with "
                         f"`ponder play --game {game.name} --opponent heuristic`, or pass --checkpoint PATH")
    return str(path)


def build_opponent(args: argparse.Namespace, game) -> tuple[Opponent, object]:
    """The opponent the options ask for, and the game to play (the agent's, with its options)."""
    if args.sims is not None and not 0 <= args.sims <= MAX_SIMS:
        raise UsageError(f"--sims must be from 0 to {MAX_SIMS}, got {args.sims}")
    if args.opponent and not args.opponent.startswith(AGENT_PREFIX):
        from envs.players import parse_player

        if args.sims is not None or args.root is not None or args.level is not None:
            raise UsageError(f"--sims, --level and --root apply to an agent, not to --opponent {args.opponent}")
        return BaselineOpponent(parse_player(args.opponent, game, args.seed), args.opponent), game

    if args.opponent:
        path, sims, root = parse_agent_spec(args.opponent)  # --level, --sims and --root below override it
    else:
        path, sims, root = args.checkpoint or _shipped_agent_path(game), LEVELS[DEFAULT_LEVEL], None
    if args.level is not None:
        sims = LEVELS[args.level]
    sims = args.sims if args.sims is not None else sims
    root = args.root or root
    import torch

    torch.manual_seed(args.seed)
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))  # interactive: a few threads, never oversubscribe
    from envs.registry import split_game_spec

    agent = _load_agent(path, game, options_given=bool(split_game_spec(args.game)[1]))
    opponent = AgentOpponent(agent, sims, root or agent_default_root(agent), path, args.seed)
    opponent.warm_up()
    return opponent, agent.game


def run(args: argparse.Namespace) -> int:
    import envs

    game = envs.get_game(args.game)
    opponent, game = build_opponent(args, game)
    view = BoardView(sys.stdout, wants_color(sys.stdout))
    session = PlaySession(game, opponent, view, human_player=0 if args.human_first else 1,
                          read_line=line_reader(sys.stdin, view))
    return session.play()
