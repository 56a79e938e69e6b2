"""A self-play actor: many games at once, one batched search per move, finished games out.

The actor keeps B games in lock-step. Each `play_move` runs one batched search over every
unfinished game (the Agent makes one network call per simulation for all of them), picks
each game's move (sampled from the search policy at the temperature of that game's ply for
pUCT; the Sequential Halving choice for Gumbel, whose Gumbel noise already explores),
records the position and, when a game ends, returns its `GameHistory` and starts a new
game in that slot. A plain class (no processes, no queues), so the local trainer and a
Ray backend host it alike.

Two options change what a move's search costs and stores (`ActorConfig`): ``reuse_trees``
keeps each game's tree between its moves, and ``fast_fraction`` searches a random share of
the moves with ``fast_simulations`` only, storing them without a policy target (KataGo's
playout-cap randomisation).
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np

from envs.game import mover_reward
from selfplay.config import ActorConfig
from selfplay.replay import GameHistory


@dataclass
class _GameInProgress:
    """The growing record of one game (lists, turned into a `GameHistory` at the end)."""

    state: object
    opening: list[int]
    observations: list = field(default_factory=list)
    actions: list = field(default_factory=list)
    to_play: list = field(default_factory=list)
    policies: list = field(default_factory=list)
    root_values: list = field(default_factory=list)
    legal_masks: list = field(default_factory=list)
    action_ends: list = field(default_factory=list)
    branch_actions: list = field(default_factory=list)
    branch_legal: list = field(default_factory=list)
    branch_ends: list = field(default_factory=list)


@dataclass(frozen=True)
class _Merged:
    """The parts of two `ActResult`s (full and fast searches) that a move needs, by game."""

    actions: np.ndarray
    visit_counts: np.ndarray
    policy: np.ndarray
    root_value: np.ndarray


@dataclass(frozen=True)
class ActorStats:
    """Counters of one actor since it started: positions, games, search seconds, network calls."""

    positions: int
    games: int
    seconds_total: float
    seconds_in_search: float
    network_evals: int


class Actor:
    """Plays ``config.games_per_actor`` self-play games at once with ``agent`` and ``search``."""

    def __init__(self, game, agent, search, config: ActorConfig, rng: np.random.Generator) -> None:
        self.game = game
        self.agent = agent
        self.search = search
        self.config = config
        self.rng = rng
        self.games = [self._new_game() for _ in range(config.games_per_actor)]
        self.positions = 0
        self.finished_games = 0
        self.seconds_total = 0.0
        self.seconds_in_search = 0.0
        self.network_evals = 0
        # the action heads' dense labels (`State.action_ends`), only for a network that has them:
        # a generic game pays one play per legal action for each
        network_config = getattr(getattr(agent, "network", None), "config", None)
        self.record_action_ends = bool(getattr(network_config, "action_heads", False))
        self.session = self._new_session() if config.reuse_trees else None
        # playout-cap randomisation's cheap search: fewer simulations, no root noise
        self.fast_search = dataclasses.replace(search, num_simulations=config.fast_simulations, dirichlet_fraction=0.0,
                                               gumbel_noise=False) if config.fast_fraction > 0 else None

    @staticmethod
    def _new_session():
        from agent.reuse import SearchSession

        return SearchSession()

    def new_weights(self) -> None:
        """New weights arrived. Kept trees over the learned model are dropped: their hidden
        states are the old network's and the new g cannot step from them. Over the rules the
        nodes are real positions and only their values are a few learner steps old, as in any
        game played across a weight update, so the trees stay."""
        if self.session is not None and self.search.model == "learned":
            self.session = self._new_session()

    def _new_game(self) -> _GameInProgress:
        state = self.game.initial_state()
        opening: list[int] = []
        if self.config.random_opening_moves > 0 and self.rng.random() < self.config.random_opening_fraction:
            for _ in range(int(self.rng.integers(1, self.config.random_opening_moves + 1))):
                legal = np.flatnonzero(state.legal_mask())
                action = int(self.rng.choice(legal))
                after = state.play(action)
                if after.is_terminal():
                    break
                state = after
                opening.append(action)
        return _GameInProgress(state=state, opening=opening)

    def _temperature(self, ply: int) -> float:
        return self.config.temperature if ply < self.config.temperature_moves else self.config.final_temperature

    def _choose(self, visit_counts: np.ndarray, searched_action: int, ply: int) -> int:
        if self.search.root == "gumbel":
            return int(searched_action)
        temperature = self._temperature(ply)
        counts = visit_counts.astype(np.float64)
        if temperature <= 0.0:
            best = np.flatnonzero(counts == counts.max())
            return int(self.rng.choice(best))
        weights = counts ** (1.0 / temperature)
        return int(self.rng.choice(counts.shape[0], p=weights / weights.sum()))

    def play_move(self) -> list[GameHistory]:
        """One move in every game; returns the games that ended with it."""
        started = time.perf_counter()
        states = [record.state for record in self.games]
        fast = (self.rng.random(len(states)) < self.config.fast_fraction) if self.config.fast_fraction > 0 \
            else np.zeros(len(states), dtype=bool)
        result = self._search(states, fast)
        finished: list[GameHistory] = []
        for slot, record in enumerate(self.games):
            state = record.state
            ply = len(record.actions)
            action = self._choose(result.visit_counts[slot], int(result.actions[slot]), ply)
            record.observations.append(state.planes())
            record.actions.append(action)
            record.to_play.append(state.to_play)
            # a fast search's visits are no policy target: zeros, which the cross-entropy ignores
            record.policies.append(np.zeros_like(result.policy[slot], dtype=np.float32) if fast[slot]
                                   else np.asarray(result.policy[slot], dtype=np.float32))
            record.root_values.append(float(result.root_value[slot]))
            record.legal_masks.append(state.legal_mask())
            if self.record_action_ends:
                record.action_ends.append(state.action_ends())
                self._record_branch(record, state, action)
            record.state = state.play(action)
            self.positions += 1
            if record.state.is_terminal() or len(record.actions) >= self.config.max_moves:
                finished.append(self._finish(record))
                self.games[slot] = self._new_game()
        self.finished_games += len(finished)
        self.seconds_total += time.perf_counter() - started
        return finished

    def _search(self, states: list, fast: np.ndarray):
        """One `ActResult` for ``states``: the rows where ``fast`` is set searched with
        ``fast_simulations`` and no root noise, the others with the full search."""
        full_rows, fast_rows = np.flatnonzero(~fast), np.flatnonzero(fast)
        parts = []
        for rows, search in ((full_rows, self.search), (fast_rows, self.fast_search)):
            if rows.size:
                part = self.agent.act([states[row] for row in rows], search, temperature=0.0, rng=self.rng,
                                      session=self.session)
                self.seconds_in_search += part.seconds
                self.network_evals += int(part.network_evals)
                parts.append((rows, part))
        if len(parts) == 1:
            return parts[0][1]
        merged = {}
        for name in ("actions", "visit_counts", "policy", "root_value"):
            first = getattr(parts[0][1], name)
            merged[name] = np.empty((len(states), *first.shape[1:]), dtype=first.dtype)
            for rows, part in parts:
                merged[name][rows] = getattr(part, name)
        return _Merged(**merged)

    def _record_branch(self, record: _GameInProgress, state, played: int) -> None:
        """The labels one step off the game: a uniformly random other legal move's position,
        its legal moves and every action's game end (none when that move ends the game, which
        the position's own labels already say). A search expands such moves all the time and
        self-play never plays them, so without these the heads only know the positions that
        strong play leaves (an open three it would never leave unblocked, say)."""
        others = [action for action in state.legal_actions() if action != played] or [played]
        branch = int(self.rng.choice(others))
        after = state.play(branch)
        num_actions = self.game.num_actions
        if after.is_terminal():
            record.branch_actions.append(-1)
            record.branch_legal.append(np.zeros(num_actions, dtype=bool))
            record.branch_ends.append(np.zeros(num_actions, dtype=np.int8))
            return
        record.branch_actions.append(branch)
        record.branch_legal.append(after.legal_mask())
        record.branch_ends.append(after.action_ends())

    def _finish(self, record: _GameInProgress) -> GameHistory:
        length = len(record.actions)
        rewards = np.zeros(length, dtype=np.float32)
        rewards[-1] = mover_reward(record.state, record.to_play[-1])
        return GameHistory(
            observations=np.stack(record.observations).astype(np.float32),
            actions=np.asarray(record.actions, dtype=np.int64),
            rewards=rewards,
            to_play=np.asarray(record.to_play, dtype=np.int8),
            policies=np.stack(record.policies).astype(np.float32),
            root_values=np.asarray(record.root_values, dtype=np.float32),
            legal_masks=np.stack(record.legal_masks).astype(bool),
            opening=np.asarray(record.opening, dtype=np.int64),
            action_ends=np.stack(record.action_ends).astype(np.int8) if self.record_action_ends else None,
            branch_actions=np.asarray(record.branch_actions, dtype=np.int64) if self.record_action_ends else None,
            branch_legal=np.stack(record.branch_legal).astype(bool) if self.record_action_ends else None,
            branch_ends=np.stack(record.branch_ends).astype(np.int8) if self.record_action_ends else None,
        )

    def stats(self) -> ActorStats:
        return ActorStats(self.positions, self.finished_games, self.seconds_total,
                          self.seconds_in_search, self.network_evals)
