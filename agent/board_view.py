"""Text for `ponder play`: the board, the agent's analysis, the score and the help, styled or plain.

Everything `ponder play` shows goes through ``BoardView``, so the one decision about
colour lives here: ANSI colour (through rich) when stdout is a terminal and ``NO_COLOR``
is unset, plain text when piped (the tests read that plain text). The functions that build
lines are pure (data in, string out) so they can be tested without a terminal.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import IO, Sequence

from rich.console import Console
from rich.text import Text


@dataclass(frozen=True)
class MoveShare:
    """One candidate move of an analysis: its coordinates, share of the search, and value.

    ``share`` is the fraction of root visits (or of the prior when the search ran 0
    simulations); ``win_probability`` is (q + 1) / 2 from the mover's view, None if unvisited.
    """

    text: str
    share: float
    win_probability: float | None


@dataclass(frozen=True)
class Analysis:
    """What the agent thinks of one position, from the view of the player to move there.

    ``top_moves`` are sorted best first; ``share_kind`` says whether shares are of
    ``"visits"`` or of the ``"prior"`` (policy-only, 0 simulations). ``proven`` is the
    solver's proof of the chosen move (``"win"``, ``"draw"`` or ``"loss"`` for the player to
    move; `SearchConfig.solver`), None when nothing was proven.
    """

    action: int
    win_probability: float
    top_moves: tuple[MoveShare, ...]
    share_kind: str
    sims: int
    seconds: float
    proven: str | None = None


@dataclass(frozen=True)
class Score:
    """Finished games since `ponder play` started, from the human's side."""

    human_wins: int = 0
    agent_wins: int = 0
    draws: int = 0

    def games(self) -> int:
        return self.human_wins + self.agent_wins + self.draws


def wants_color(stream: IO[str], environ: dict[str, str] | None = None) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    environ = os.environ if environ is None else environ
    if environ.get("NO_COLOR", ""):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def percent(probability: float) -> str:
    return f"{100.0 * probability:.0f}%"


def analysis_details(analysis: Analysis) -> str:
    """'top: 4 61% (win 70%), 3 20% · 100 sims in 0.41 s': the search behind a move or hint."""
    moves = []
    for move in analysis.top_moves:
        value = f" (win {percent(move.win_probability)})" if move.win_probability is not None else ""
        moves.append(f"{move.text} {percent(move.share)}{value}")
    label = "top" if analysis.share_kind == "visits" else "prior"
    effort = f"{analysis.sims} sims" if analysis.sims else "policy only"
    return f"{label}: {', '.join(moves)} · {effort} in {analysis.seconds:.2f} s"


# what a proof of the chosen move means, said from the agent's side and from the human's
AGENT_PROOF_WORDS = {"win": "it has proven a win", "draw": "it has proven a draw",
                     "loss": "it has proven every move loses"}
HINT_PROOF_WORDS = {"win": "proven: you win by force", "draw": "proven: a draw with best play",
                    "loss": "proven: you lose against best play"}


def agent_move_lines(move_text: str, analysis: Analysis | None, opponent_name: str) -> list[str]:
    """After each opponent move: the move, then (an agent only) an indented line with its reasons.

    Two short lines rather than one long one, so an 80-column terminal does not wrap them.
    """
    if analysis is None:
        return [f"{opponent_name} plays {move_text}"]
    proof = f" · {AGENT_PROOF_WORDS[analysis.proven]}" if analysis.proven else ""
    return [f"{opponent_name} plays {move_text} · its win chance {percent(analysis.win_probability)}{proof}",
            f"  {analysis_details(analysis)}"]


def hint_lines(analysis: Analysis, move_text: str) -> list[str]:
    """The agent's analysis of the human's position: what it would play in the human's place."""
    proof = f" · {HINT_PROOF_WORDS[analysis.proven]}" if analysis.proven else ""
    return [f"hint: the agent would play {move_text} · your win chance {percent(analysis.win_probability)}{proof}",
            f"  {analysis_details(analysis)}"]


def score_line(score: Score) -> str:
    plural = "game" if score.games() == 1 else "games"
    return (f"score after {score.games()} {plural}: you {score.human_wins} · agent {score.agent_wins} · "
            f"draws {score.draws}")


def help_text(example_moves: Sequence[str], has_pass: bool) -> str:
    """The command list; ``example_moves`` shows this game's coordinates (e.g. "4", "d4")."""
    examples = ", ".join(example_moves)
    pass_note = "; `pass` where it is legal" if has_pass else ""
    return "\n".join([
        f"moves: type coordinates as on the board (e.g. {examples}){pass_note}",
        "  hint      the agent's analysis of your position",
        "  undo      take back your last move and the reply to it",
        "  new       start a new game (same sides)",
        "  swap      change sides (the agent moves if it is now its turn)",
        "  sims N    the agent's simulations per move (0 = network policy only)",
        "  help      this list",
        "  quit      end (Ctrl-C or end of input does the same)",
    ])


class BoardView:
    """Writes `ponder play`'s output to one stream, with colour or without.

    Styles are rich style names; with ``color`` False rich writes no escape codes at all.
    Boards come from ``State.render(color)``, whose ANSI codes rich passes through.
    """

    STYLES = {"info": "", "agent": "bold cyan", "human": "bold green", "warn": "yellow",
              "result": "bold magenta", "dim": "dim"}

    def __init__(self, stream: IO[str], color: bool) -> None:
        self.stream = stream
        self.color = color
        self._console = Console(file=stream, force_terminal=color, no_color=not color, color_system="standard"
                                if color else None, highlight=False, markup=False, emoji=False, soft_wrap=True)

    def say(self, line: str, kind: str = "info") -> None:
        self._console.print(Text(line, style=self.STYLES.get(kind, "")))
        self.stream.flush()

    def thinking(self, label: str):
        """A spinner while the opponent searches, on a terminal only (a pipe gets nothing):
        a long search should not look like a hung program. Transient: it leaves no line."""
        if not self.color:
            return contextlib.nullcontext()
        return self._console.status(Text(label + "…", style="dim"), spinner="dots")

    def board(self, rendered: str) -> None:
        self._console.print(Text.from_ansi(rendered) if self.color else Text(rendered))
        self.stream.flush()

    def prompt(self, text: str) -> None:
        """The prompt, without a newline, flushed so a human (or a pipe reader) sees it now."""
        self._console.print(Text(text, style="bold" if self.color else ""), end="")
        self.stream.flush()
