"""The board model's end detector, trained on positions the rules generate.

The detector (`agent.networks.BoardEnds`) reads a position's planes and says whether the game
has ended there and how; the learned tree stops where it reads an end on g's predicted planes
(`agent.search`). Fitted together with g on the paths through a run's games (`c4-t`), it saw
a few hundred thousand positions close to self-play's and read ends that were not there one
move after unusual positions (precision 20% one move into the Pons sets, docs/notebook.md).

What a line detector needs is volume and variety: millions of positions, the wins beside
their near misses, boards as full as the game gets. The rules make those for free, with no
network and no replay: `generate_end_examples` plays games from the start and keeps every
legal move's position with the rules' label of that move (`State.action_ends`). Half the games are uniformly random; in the
other half each move is drawn among those that neither end the game nor hand the opponent a
win in one, so the board fills up with threats on both sides. `fit_end_detector` then trains
the detector alone on them (each row under a random board symmetry), a quarter of every
batch drawn from the positions where the game ended and weighted back to their share.

Measured on Connect Four (docs/notebook.md, "An end detector trained on the rules' positions"):
wins one to four plies into the Pons positions found with 100% precision and recall, the same
on g's predicted planes as on the real ones.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch.nn import functional as F

from envs.game import END_NONE, Game, State
from selfplay.replay import permute_cells, symmetry_permutations

AVOIDING_GAMES = 0.5        # share of games whose moves avoid ending the game
RANDOM_MOVES = 0.1          # in those, share of moves drawn uniformly all the same
ENDED_SHARE = 0.25          # share of each batch drawn from positions where the game ended
DETECTOR_LEARNING_RATE = 3e-3   # Adam's, decayed by a cosine to 0 (measured on Connect Four)
CHUNK = 65_536              # positions between compactions while generating
TRUSTED = 0.99              # precision and recall a detector must reach on fresh positions to be kept
CHECK_POSITIONS = 20_000    # fresh positions it is checked on (about a second to generate)


@dataclass(frozen=True)
class EndExamples:
    """Positions one legal move after positions of generated games, with the rules' labels.

    ``planes`` ``[N, C, H, W]`` (uint8 when the game's planes are 0/1, else float32) and
    ``classes`` int64 ``[N]``: the `END_*` code of the move into the position, for its mover.
    """

    planes: np.ndarray
    classes: np.ndarray

    def __len__(self) -> int:
        return int(self.classes.shape[0])

    @property
    def ended(self) -> np.ndarray:
        """Indices of the positions where the game ended."""
        return np.flatnonzero(self.classes != END_NONE)


def _avoiding_move(children: list[tuple[int, State]], rng: np.random.Generator) -> int:
    """A uniformly drawn move among ``children`` ((move, position after it) of every legal
    move) that neither ends the game nor hands the opponent a win in one; failing that, among
    those that do not end it; failing that, any."""
    quiet = [(action, after) for action, after in children if not after.is_terminal()]
    safe = [action for action, after in quiet if not after.winning_actions()]
    pool = safe or [action for action, _ in quiet] or [action for action, _ in children]
    return int(pool[rng.integers(len(pool))])


def generate_end_examples(game: Game, count: int, rng: np.random.Generator,
                          seconds: float | None = None, avoiding: float = AVOIDING_GAMES) -> EndExamples:
    """About ``count`` examples (fewer if ``seconds`` run out first), from whole games, a
    share ``avoiding`` of them threat-avoiding."""
    planes: list[np.ndarray] = []
    classes: list[int] = []
    chunks: list[np.ndarray] = []     # planes stacked every CHUNK positions, uint8 where 0/1
    deadline = None if seconds is None else time.monotonic() + seconds
    while len(classes) < count and (deadline is None or time.monotonic() < deadline):
        if len(planes) >= CHUNK:
            chunks.append(_compact(planes))
            planes = []
        state = game.initial_state()
        avoids = rng.random() < avoiding
        while not state.is_terminal():
            children = [(action, state.play(action)) for action in state.legal_actions()]
            codes = state.action_ends()
            for action, after in children:
                planes.append(after.planes())
                classes.append(int(codes[action]))
            if avoids and rng.random() >= RANDOM_MOVES:
                action = _avoiding_move(children, rng)
            else:
                action = children[rng.integers(len(children))][0]
            state = dict(children)[action]
    if not classes:
        raise ValueError("no end examples were generated: give the generator more time")
    if planes:
        chunks.append(_compact(planes))
    binary = all(chunk.dtype == np.uint8 for chunk in chunks)
    return EndExamples(planes=np.concatenate([chunk if binary else chunk.astype(np.float32) for chunk in chunks]),
                       classes=np.asarray(classes, dtype=np.int64))


def _compact(planes: list[np.ndarray]) -> np.ndarray:
    """The positions' planes as one array: uint8 when all are 0/1 (a quarter of float32's
    memory, which a pool of millions needs), else float32."""
    stacked = np.stack(planes)
    return stacked.astype(np.uint8) if np.isin(stacked, (0.0, 1.0)).all() else stacked.astype(np.float32)


@dataclass
class DetectorProgress:
    """Where the detector's fit stands: optimizer steps, examples generated, seconds, last loss."""

    steps: int = 0
    examples: int = 0
    seconds: float = 0.0
    loss: float = float("nan")


def _batch(examples: EndExamples, ended: np.ndarray, size: int, permutations: list[np.ndarray],
           rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(planes, classes, weights) of ``size`` rows: a quarter from the ended positions (when
    there are any), the rest uniformly, each under a random one of the board's cell
    ``permutations``. The weights undo the oversampling (importance weights of the pool's own
    distribution), so that the detector's probabilities are those of the positions and a
    threshold of 0.5 means what it says."""
    from_ended = int(size * ENDED_SHARE) if ended.size else 0
    rows = np.concatenate([rng.integers(0, len(examples), size - from_ended),
                           ended[rng.integers(0, ended.size, from_ended)] if from_ended else np.zeros(0, np.int64)])
    uniform_share = (size - from_ended) / size
    ended_fraction = ended.size / len(examples)
    ended_weight = 1.0 / (uniform_share + (1.0 - uniform_share) / ended_fraction) if ended.size else 1.0
    weights = np.where(examples.classes[rows] != END_NONE, ended_weight, 1.0 / uniform_share)
    planes = examples.planes[rows].astype(np.float32)
    chosen = rng.integers(0, len(permutations), size)
    for index, cells in enumerate(permutations[1:], start=1):
        selected = np.flatnonzero(chosen == index)
        planes[selected] = permute_cells(planes[selected], cells)
    return (torch.from_numpy(planes), torch.from_numpy(examples.classes[rows]),
            torch.from_numpy(weights.astype(np.float32)))


def fit_end_detector(network, game: Game, *, minutes: float | None = None, steps: int | None = None,
                     examples: int, learning_rate: float, symmetries: str = "none", batch: int = 512,
                     avoiding: float = AVOIDING_GAMES, seed: int = 0, report: Callable[[DetectorProgress], None] | None = None,
                     report_every: int = 500, should_stop: Callable[[], bool] | None = None) -> DetectorProgress:
    """Train ``network.board_ends`` alone (in place) on generated positions.

    Generation takes at most half the budget (``minutes``) and at most ``examples`` positions;
    training takes the rest, or ``steps`` optimizer steps when given (tests: the same work on
    any machine). Adam with a cosine from ``learning_rate`` to 0; the rest of the network is
    not touched.
    """
    if network.board_ends is None:
        raise ValueError("this network has no end detector (network.board_ends = false)")
    if (minutes is None) == (steps is None):
        raise ValueError("give the detector's fit minutes or steps, not both")
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    started = time.monotonic()
    budget = None if minutes is None else minutes * 60.0
    pool = generate_end_examples(game, examples, rng, seconds=None if budget is None else budget / 2,
                                 avoiding=avoiding)
    _, _, height, width = pool.planes.shape
    permutations = symmetry_permutations(symmetries, height, width)
    ended = pool.ended
    progress = DetectorProgress(examples=len(pool))
    detector = network.board_ends
    detector.train()
    optimizer = torch.optim.Adam(detector.parameters(), lr=learning_rate)
    train_start = time.monotonic()
    train_seconds = None if budget is None else max(budget - (train_start - started), 1e-9)
    while not (should_stop and should_stop()):
        fraction = progress.steps / steps if steps is not None else (time.monotonic() - train_start) / train_seconds
        if fraction >= 1.0:
            break
        for group in optimizer.param_groups:
            group["lr"] = learning_rate * 0.5 * (1.0 + math.cos(math.pi * fraction))
        planes, classes, weights = _batch(pool, ended, batch, permutations, rng)
        loss = (F.cross_entropy(detector(planes).float(), classes, reduction="none") * weights).sum() / weights.sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        progress.steps += 1
        progress.loss = float(loss.detach())
        progress.seconds = time.monotonic() - started
        if report is not None and progress.steps % report_every == 0:
            report(progress)
    detector.eval()
    progress.seconds = time.monotonic() - started
    return progress


@dataclass(frozen=True)
class DetectorCheck:
    """How a trained detector reads positions it never saw, from fresh generated games: of
    the ``ends`` positions where the game ended, the share it reads with the right result
    (``recall``); of the positions it reads as ended, the share that ended with that result
    (``precision``)."""

    positions: int
    ends: int
    precision: float
    recall: float

    @property
    def trusted(self) -> bool:
        """Good enough for the learned tree to stop where it reads an end."""
        return self.precision >= TRUSTED and self.recall >= TRUSTED

    def describe(self) -> str:
        return (f"precision {self.precision:.2%}, recall {self.recall:.2%} on {self.positions:,} fresh positions "
                f"({self.ends:,} ended)")


def check_end_detector(detector: torch.nn.Module, game: Game, rng: np.random.Generator,
                       positions: int = CHECK_POSITIONS) -> DetectorCheck:
    """Read ``positions`` fresh generated positions with ``detector`` as the search reads it
    (`agent.model_ends.read_position_ends` at the search's default ``end_threshold``) and
    score its ends against the rules' labels. A time-budgeted fit on a slow or busy machine
    can stop after too few steps; this is what tells, before a search trusts it."""
    from agent.model_ends import PositionEnds, read_position_ends, score_position_ends
    from mcts.config import SearchConfig

    pool = generate_end_examples(game, positions, rng)
    detector.eval()
    with torch.no_grad():
        readings = [read_position_ends(detector(torch.from_numpy(pool.planes[start:start + 4096].astype(np.float32))),
                                       SearchConfig.end_threshold) for start in range(0, len(pool), 4096)]
    reading = PositionEnds(np.concatenate([r.ended for r in readings]), np.concatenate([r.reward for r in readings]))
    right, ended, read = score_position_ends(reading, pool.classes)
    return DetectorCheck(positions=len(pool), ends=ended, precision=right / read if read else float(ended == 0),
                         recall=right / ended if ended else 1.0)
