"""Learned-model fidelity by unroll depth: how far the imagined states of g stay true.

Deep search walks down the learned dynamics g, never the real game, so what limits it is
how well ``f(g^k(h(s_t), a_t..a_{t+k-1}))`` matches what the same network says about the
real position ``s_{t+k}``, i.e. ``f(h(s_{t+k}))``. Along real game trajectories, for every
depth k = 1..K we compare the two on the real actions:

- policy KL: ``KL(softmax(real logits) || softmax(imagined logits))`` over all A actions
  (the search uses the unmasked prior below the root, so illegal actions matter);
- value error: ``|v_imagined - v_real|`` (both from the view of the player to move);
- illegal mass: the prior probability the imagined state puts on actions that are illegal
  in the real position k plies later (depth 0 gives the same for the real prior, as the
  baseline);
- game ends and legality (`selfplay.end_fidelity`): per action of the real position, does
  the model know it is legal, that it wins, that it ends the game (the action heads, where
  the network has them), and does the reward head see the win.

Trajectories are games of the network's own policy-only play (argmax of the prior over
legal moves) against uniformly random moves, colours alternating, seeded: positions the
agent actually meets, with enough variety from the random side.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from envs.game import Game


@dataclass(frozen=True)
class FidelityByDepth:
    """Fidelity metrics by unroll depth 0..K (row k = k imagined steps).

    depths: int [K+1]; pairs: int [K+1] (compared (t, t+k) pairs); policy_kl,
    value_abs_error, illegal_mass: float [K+1] means over pairs; *_sem: float [K+1]
    standard errors of those means. Row 0 compares h with itself (KL 0, error 0) and gives
    the real prior's illegal mass.
    """

    depths: np.ndarray
    pairs: np.ndarray
    policy_kl: np.ndarray
    policy_kl_sem: np.ndarray
    value_abs_error: np.ndarray
    value_abs_error_sem: np.ndarray
    illegal_mass: np.ndarray
    illegal_mass_sem: np.ndarray
    games: int
    ends: tuple[dict, ...] = ()     # per depth: `EndCounts.as_dict` (empty if not measured)
    # per depth, board models only: the share of g's predicted boards (each cell read as set
    # above 0.5, as the search snaps them) equal to the real position's, cell for cell
    boards_exact: tuple[float | None, ...] = ()

    def as_dict(self) -> dict:
        def listed(values: np.ndarray) -> list:
            return [None if not np.isfinite(v) else round(float(v), 6) for v in values]

        return {
            "games": self.games,
            "depths": self.depths.tolist(),
            "pairs": self.pairs.tolist(),
            "policy_kl": listed(self.policy_kl),
            "policy_kl_sem": listed(self.policy_kl_sem),
            "value_abs_error": listed(self.value_abs_error),
            "value_abs_error_sem": listed(self.value_abs_error_sem),
            "illegal_mass": listed(self.illegal_mass),
            "illegal_mass_sem": listed(self.illegal_mass_sem),
            "ends": list(self.ends),
            "boards_exact": [None if v is None else round(float(v), 6) for v in self.boards_exact],
        }


def _policy_only_actions(network, states, torch) -> list[int]:
    planes = torch.from_numpy(np.stack([state.planes() for state in states]))
    _, logits, _ = network.initial(planes)
    logits = logits.numpy().astype(np.float64)
    masks = np.stack([state.legal_mask() for state in states])
    return np.where(masks, logits, -np.inf).argmax(axis=1).tolist()


def play_trajectories(network, game: Game, num_games: int, seed: int = 0) -> list[tuple[int, ...]]:
    """Action sequences of ``num_games`` finished games: the network (policy-only) vs random.

    The network moves first in even-numbered games and second in odd ones; all games run
    in lock-step so each ply is one batched network call.
    """
    import torch

    rng = np.random.default_rng(seed)
    states = [game.initial_state() for _ in range(num_games)]
    network_seat = [index % 2 for index in range(num_games)]
    with torch.no_grad():
        while True:
            live = [i for i, state in enumerate(states) if not state.is_terminal()]
            if not live:
                break
            network_turn = [i for i in live if states[i].to_play == network_seat[i]]
            if network_turn:
                for i, action in zip(network_turn, _policy_only_actions(network, [states[i] for i in network_turn], torch)):
                    states[i] = states[i].play(action)
            for i in live:
                if i not in network_turn:
                    states[i] = states[i].play(int(rng.choice(states[i].legal_actions())))
    return [state.history for state in states]


def _mean_sem(values: np.ndarray) -> tuple[float, float]:
    if values.size == 0:
        return float("nan"), float("nan")
    sem = float(values.std(ddof=1) / np.sqrt(values.size)) if values.size > 1 else float("nan")
    return float(values.mean()), sem


def policy_continuations(network, game: Game, openings: Sequence[Sequence[int]]) -> list[tuple[int, ...]]:
    """Each opening (a position's action history) played to the end by the network's own
    policy-only moves on both sides, in lock-step batches: trajectories through positions
    such as Pons' sets, deep enough to unroll from them."""
    import torch

    states = [game.state_from_actions(list(opening)) for opening in openings]
    with torch.no_grad():
        while True:
            live = [i for i, state in enumerate(states) if not state.is_terminal()]
            if not live:
                break
            for i, action in zip(live, _policy_only_actions(network, [states[i] for i in live], torch)):
                states[i] = states[i].play(action)
    return [state.history for state in states]


def measure_fidelity(network, game: Game, trajectories: Sequence[Sequence[int]], max_depth: int = 10,
                     ends: bool = True, first_plies: Sequence[int] | None = None,
                     positive_weight: float = 1.0, starts_per_trajectory: int | None = None) -> FidelityByDepth:
    """Compare imagined and real network outputs at depths 0..max_depth along ``trajectories``;
    with ``ends``, also legality and game ends against the rules (`selfplay.end_fidelity`).
    ``first_plies[i]``: unroll only from ply ``first_plies[i]`` of trajectory i on (the plies
    before it are an opening that is not measured); all plies by default.
    ``starts_per_trajectory``: unroll from at most that many plies of each trajectory (its
    first ones): one per trajectory measures the positions themselves (Pons' sets) and not
    the games played on from them. ``positive_weight``:
    the end loss's weight of game-ending examples (`Agent.end_positive_weight`), undone when
    the heads are read, as the search does."""
    import torch

    from agent.model_fit import prior_kl
    from selfplay.end_fidelity import EndCounts, count_ends

    starts: list[tuple[int, int]] = []  # (trajectory, ply) of every non-terminal real position measured
    unrolled: list[int] = []            # the indices into starts that g is unrolled from
    planes, masks, labels = [], [], []
    for index, actions in enumerate(trajectories):
        state = game.initial_state()
        first = 0 if first_plies is None else int(first_plies[index])
        last = len(actions) if starts_per_trajectory is None else first + starts_per_trajectory
        for ply, action in enumerate(actions):
            if ply >= first:
                if ply < last:
                    unrolled.append(len(starts))
                starts.append((index, ply))
                planes.append(state.planes())
                masks.append(state.legal_mask())
                if ends:
                    labels.append(state.action_ends())
            state = state.play(int(action))
    lengths = [len(actions) for actions in trajectories]
    masks_array = np.stack(masks) if masks else np.zeros((0, game.num_actions), dtype=bool)
    labels_array = np.stack(labels) if labels else None
    columns = {key: [] for key in ("kl", "value", "illegal")}
    rows = []
    real_planes = np.stack(planes) if planes else None
    board_planes = real_planes.shape[1] if getattr(network, "board_model", False) and real_planes is not None else 0
    boards_exact: list[float | None] = [1.0] if board_planes else []   # depth 0: h's own input
    end_rows: list[dict] = []
    alive = np.asarray(unrolled, dtype=np.int64)
    with torch.no_grad():
        hidden, real_logits, real_value = network.initial(torch.from_numpy(np.stack(planes)))
        hidden = hidden[torch.from_numpy(alive)]
        if labels_array is not None:
            end_rows.append(count_ends(network, hidden, masks_array[alive], labels_array[alive],
                                       positive_weight=positive_weight).as_dict())
        real_prior = torch.softmax(real_logits.double(), dim=1).numpy()
        real_value = real_value.double().numpy()
        rows.append((np.zeros(alive.size), np.zeros(alive.size), (real_prior[alive] * ~masks_array[alive]).sum(axis=1)))
        # Position i's imagined chain: after k steps it stands for real position i + k.
        for depth in range(1, max_depth + 1):
            trajectory = np.array([starts[i][0] for i in alive], dtype=np.int64)
            ply = np.array([starts[i][1] for i in alive], dtype=np.int64)
            keep = ply + depth < np.array(lengths, dtype=np.int64)[trajectory] if alive.size else np.zeros(0, bool)
            alive, hidden = alive[keep], hidden[torch.from_numpy(np.flatnonzero(keep))]
            if alive.size == 0:
                rows.append((np.zeros(0), np.zeros(0), np.zeros(0)))
                if board_planes:
                    boards_exact.append(None)
                if labels_array is not None:
                    end_rows.append(EndCounts().as_dict())
                continue
            actions = torch.tensor([trajectories[starts[i][0]][starts[i][1] + depth - 1] for i in alive])
            hidden, _, logits, value = network.recurrent(hidden, actions)
            target = alive + depth  # index of the real position k plies later (same trajectory)
            log_prior = torch.log_softmax(logits.double(), dim=1).numpy()
            kl = prior_kl(real_logits[torch.from_numpy(target)], logits.double()).numpy()
            value_error = np.abs(value.double().numpy() - real_value[target])
            illegal = (np.exp(log_prior) * ~masks_array[target]).sum(axis=1)
            rows.append((kl, value_error, illegal))
            if board_planes:
                predicted = hidden[:, -board_planes:].float().numpy() > 0.5
                same = (predicted == (real_planes[target] > 0.5)).reshape(len(target), -1).all(axis=1)
                boards_exact.append(float(same.mean()))
            if labels_array is not None:
                end_rows.append(count_ends(network, hidden, masks_array[target], labels_array[target],
                                           positive_weight=positive_weight).as_dict())
    for kl, value_error, illegal in rows:
        columns["kl"].append(_mean_sem(kl))
        columns["value"].append(_mean_sem(value_error))
        columns["illegal"].append(_mean_sem(illegal))
    return FidelityByDepth(
        depths=np.arange(max_depth + 1),
        pairs=np.array([len(row[0]) for row in rows]),
        policy_kl=np.array([m for m, _ in columns["kl"]]), policy_kl_sem=np.array([s for _, s in columns["kl"]]),
        value_abs_error=np.array([m for m, _ in columns["value"]]),
        value_abs_error_sem=np.array([s for _, s in columns["value"]]),
        illegal_mass=np.array([m for m, _ in columns["illegal"]]),
        illegal_mass_sem=np.array([s for _, s in columns["illegal"]]),
        games=len(trajectories),
        ends=tuple(end_rows),
        boards_exact=tuple(boards_exact),
    )


def model_fidelity(network, game: Game, num_games: int = 40, max_depth: int = 10, seed: int = 0,
                   positive_weight: float = 1.0) -> FidelityByDepth:
    """Play ``num_games`` trajectories (network policy-only vs random) and measure fidelity along them."""
    return measure_fidelity(network, game, play_trajectories(network, game, num_games, seed), max_depth,
                            positive_weight=positive_weight)
