"""Replay memory: finished self-play games in numpy arrays, K-step unroll targets, persistence.

The learner trains on positions sampled from here. Each sampled row is a position t of a
stored game plus the K actions played after it and, for unroll steps k = 0..K, the
targets the network must predict at t+k:

- value: the n-step return from the view of the player to move at t+k (board games with
  ``td_steps < 0``: the final outcome from that player's view). The sign follows who is to
  move: a reward earned by the opponent counts negatively (the sign convention of docs/architecture.md).
- reward: the reward of the action taken at t+k-1, from the view of the player who took it.
- policy: the search policy stored by the actor (or refreshed by reanalyse).

Past the end of a game the position is absorbing: value and reward targets are 0, the
policy is masked out, and the unrolled actions are uniformly random (as in MuZero).
Memory is bounded by ``capacity_positions``: the oldest games go first. The whole memory
saves to one ``.npz`` in the run folder's ``replay/`` atomically, so a resumed run keeps it.
"""
from __future__ import annotations

import hashlib
import os
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agent.batch import UnrollBatch
from envs.errors import UsageError

REPLAY_FILE = "games.npz"
CHECKSUM_ARRAY = "checksum"
_PRIORITY_EPSILON = 1e-3


class ReplayError(UsageError):
    """A saved replay that cannot be used (damaged, truncated); the message is one line."""


def arrays_checksum(arrays: dict[str, np.ndarray]) -> np.ndarray:
    """uint8 [32]: SHA-256 over every array (name, dtype, shape, bytes) but the checksum, in name order."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        if name == CHECKSUM_ARRAY:
            continue
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}:{array.dtype.str}:{array.shape}".encode())
        digest.update(array.tobytes())
    return np.frombuffer(digest.digest(), dtype=np.uint8).copy()


@dataclass(frozen=True)
class GameHistory:
    """One finished self-play game; T = number of stored (non-terminal) positions.

    observations: float32 [T, C, H, W], planes from the view of the player to move.
    actions:      int64 [T], the action played at each position.
    rewards:      float32 [T], reward of ``actions[t]`` from the view of the player who played it.
    to_play:      int8 [T], index (0/1) of the player to move at each position.
    policies:     float32 [T, A], the search policy (training target).
    root_values:  float32 [T], the search value from the view of the player to move.
    legal_masks:  bool [T, A].
    opening:      int64 [S], random opening plies played before position 0 (not trained on),
                  kept so that a position can be rebuilt from the initial state (reanalyse).
    action_ends:  int8 [T, A], `envs.game.END_*` code of every action at each position (what
                  it would do to the game: the action heads' dense labels), or None when the
                  actor did not record them (a network without action heads, older replays).
    branch_actions: int64 [T], a random other legal move at each position (-1 where it ended
                  the game), and branch_legal bool [T, A], branch_ends int8 [T, A]: the legal
                  moves and action ends of the position it leads to (labels one step off the
                  game, `Actor._record_branch`); None with action_ends.
    """

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    to_play: np.ndarray
    policies: np.ndarray
    root_values: np.ndarray
    legal_masks: np.ndarray
    opening: np.ndarray
    action_ends: np.ndarray | None = None
    branch_actions: np.ndarray | None = None
    branch_legal: np.ndarray | None = None
    branch_ends: np.ndarray | None = None

    @property
    def length(self) -> int:
        return int(self.actions.shape[0])

    def action_prefix(self, position: int) -> list[int]:
        """Actions from the initial state up to (not including) stored position ``position``."""
        return [*self.opening.tolist(), *self.actions[:position].tolist()]


SYMMETRIES = ("none", "dihedral", "mirror")


def symmetry_actions(kind: str, cells: np.ndarray, height: int, width: int, num_actions: int) -> np.ndarray:
    """The action permutation that goes with the cell permutation ``cells``:
    ``new_action = inverse(result)[old_action]``. Actions are the board's cells, the cells
    and a trailing pass (Othello, Go: the pass maps to itself), or, for the mirror, columns."""
    cell_count = height * width
    if num_actions == cell_count:
        return cells
    if num_actions == cell_count + 1:
        return np.append(cells, cell_count)
    if kind == "mirror" and num_actions == width:
        return np.arange(width)[::-1]
    raise ValueError(f"{kind} symmetries need one action per cell (and at most a trailing pass) or per column")


def permute_cells(planes: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """``planes [..., H, W]`` with their cells permuted by ``cells`` (`symmetry_permutations`)."""
    height, width = planes.shape[-2:]
    return planes.reshape(*planes.shape[:-2], height * width)[..., cells].reshape(planes.shape)


def symmetry_permutations(kind: str, height: int, width: int) -> list[np.ndarray]:
    """Cell permutations of the board symmetries: ``new_flat = old_flat[perm]`` for each one.

    ``dihedral``: the 8 rotations/reflections of a square board whose action ids are the
    flat cells (tic-tac-toe). ``mirror``: identity and the left-right reflection (Connect
    Four, whose actions are columns). ``none``: the identity only.
    """
    grid = np.arange(height * width).reshape(height, width)
    if kind == "none":
        return [grid.ravel()]
    if kind == "mirror":
        return [grid.ravel(), grid[:, ::-1].ravel()]
    if kind == "dihedral":
        if height != width:
            raise ValueError("dihedral symmetries need a square board")
        out = []
        for flip in (False, True):
            base = grid.T if flip else grid
            out.extend(np.rot90(base, k).ravel() for k in range(4))
        return out
    raise ValueError(f"symmetries must be one of {', '.join(SYMMETRIES)}, got {kind!r}")


def value_targets(game: GameHistory, td_steps: int, discount: float, two_player: bool,
                  root_value_weight: float = 0.0) -> np.ndarray:
    """float32 [T]: the value target of each position, from the view of its player to move.

    z_t = sum_{i<n} discount^i * s(t, t+i) * r_{t+i} + discount^n * s(t, t+n) * v_{t+n},
    where s(a, b) is +1 if the same player is to move at a and b, else -1 (always +1 for
    one-player games), and n = td_steps, or the rest of the game if ``td_steps < 0``.
    With ``root_value_weight`` w > 0 the target is (1 - w) * z_t + w * v_t, v_t being the
    search value stored at t (same view): the outcome alone charges every position of a
    game for a blunder made later, the search value does not (averaging the two is what
    Abrams found best for Connect Four: "Lessons From AlphaZero (part 4): Improving the
    Training Target", Oracle Developers, 2018).
    """
    length = game.length
    rewards = game.rewards.astype(np.float64)
    players = game.to_play.astype(np.int64)
    targets = np.zeros(length, dtype=np.float32)
    for t in range(length):
        horizon = length if td_steps < 0 else min(length, t + td_steps)
        total = 0.0
        for i, step in enumerate(range(t, horizon)):
            sign = 1.0 if (not two_player or players[step] == players[t]) else -1.0
            total += (discount ** i) * sign * rewards[step]
        if horizon < length:
            sign = 1.0 if (not two_player or players[horizon] == players[t]) else -1.0
            total += (discount ** (horizon - t)) * sign * float(game.root_values[horizon])
        targets[t] = total
    if root_value_weight > 0:
        targets = ((1.0 - root_value_weight) * targets + root_value_weight * game.root_values).astype(np.float32)
    return targets


class Replay:
    """Bounded store of finished games with uniform or prioritised sampling of positions.

    A plain class (no processes, no torch): the trainer feeds it games and the learner
    samples from it, wherever they run.
    """

    def __init__(self, capacity_positions: int, unroll_steps: int, td_steps: int = -1,
                 discount: float = 1.0, two_player: bool = True, priority_alpha: float = 0.0,
                 priority_beta: float = 1.0, symmetries: str = "none",
                 target_observations: bool = False, root_value_weight: float = 0.0,
                 action_labels: bool = False) -> None:
        if capacity_positions <= 0 or unroll_steps < 0:
            raise ValueError("capacity_positions must be > 0 and unroll_steps >= 0")
        if not 0.0 <= root_value_weight <= 1.0:
            raise ValueError(f"root_value_weight must be in [0, 1], got {root_value_weight}")
        self.root_value_weight = root_value_weight
        self.capacity_positions = capacity_positions
        self.unroll_steps = unroll_steps
        self.td_steps = td_steps
        self.discount = discount
        self.two_player = two_player
        self.priority_alpha = priority_alpha
        self.priority_beta = priority_beta
        if symmetries not in SYMMETRIES:
            raise ValueError(f"symmetries must be one of {', '.join(SYMMETRIES)}, got {symmetries!r}")
        self.symmetries = symmetries
        self.target_observations = target_observations
        self.action_labels = action_labels
        self._games: OrderedDict[int, GameHistory] = OrderedDict()
        self._values: dict[int, np.ndarray] = {}
        self._priorities: dict[int, np.ndarray] = {}
        self._lengths: dict[int, int] = {}        # game id -> length, in the order of _games
        self._next_game_id = 0
        self.num_positions = 0
        self.games_added = 0
        self.positions_added = 0
        self._flat: tuple[np.ndarray, np.ndarray] | None = None

    # ------------------------------------------------------------------ storing
    def __len__(self) -> int:
        return len(self._games)

    def add_game(self, game: GameHistory) -> int:
        """Store a finished game (dropping the oldest beyond capacity); returns its id."""
        if game.length == 0:
            return -1
        game_id = self._next_game_id
        self._next_game_id += 1
        self._store(game_id, game)
        self.games_added += 1
        self.positions_added += game.length
        self._evict()
        return game_id

    def _store(self, game_id: int, game: GameHistory, priorities: np.ndarray | None = None) -> None:
        targets = self._value_targets(game)
        self._games[game_id] = game
        self._lengths[game_id] = game.length
        self._values[game_id] = targets
        if priorities is None:
            priorities = np.abs(game.root_values - targets).astype(np.float32) + _PRIORITY_EPSILON
        self._priorities[game_id] = priorities.astype(np.float32)
        self.num_positions += game.length
        self._flat = None

    def _evict(self) -> None:
        while self.num_positions > self.capacity_positions and len(self._games) > 1:
            game_id, game = self._games.popitem(last=False)
            del self._values[game_id], self._priorities[game_id], self._lengths[game_id]
            self.num_positions -= game.length
            self._flat = None

    def games(self) -> list[GameHistory]:
        """The stored games, oldest first."""
        return list(self._games.values())

    def game(self, game_id: int) -> GameHistory | None:
        """The stored game of that id, or None once it was evicted."""
        return self._games.get(game_id)

    # ------------------------------------------------------------------ sampling
    def _flat_index(self) -> tuple[np.ndarray, np.ndarray]:
        # rebuilt after every add/evict, i.e. between most learner steps: vectorised, so that it
        # costs well under a millisecond for thousands of games (a per-game Python
        # concatenation took ~50 ms and stole a quarter of the learner's time)
        if self._flat is None:
            count = len(self._games)
            game_ids = np.fromiter(self._games.keys(), dtype=np.int64, count=count)
            lengths = np.fromiter(self._lengths.values(), dtype=np.int64, count=count)
            ids = np.repeat(game_ids, lengths)
            starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
            positions = np.arange(ids.shape[0], dtype=np.int64) - starts
            self._flat = (ids, positions)
        return self._flat

    def sample(self, batch_size: int, rng: np.random.Generator) -> UnrollBatch:
        """B positions (uniform, or by priority ** alpha) with their K-step unroll targets."""
        if self.num_positions == 0:
            raise ValueError("sample() from an empty replay")
        ids, positions = self._flat_index()
        count = ids.shape[0]
        if self.priority_alpha > 0:
            priorities = np.concatenate([self._priorities[gid] for gid in self._games]) ** self.priority_alpha
            probabilities = priorities / priorities.sum()
            chosen = rng.choice(count, size=batch_size, p=probabilities)
            weights = (count * probabilities[chosen]) ** (-self.priority_beta)
            weights = (weights / weights.max()).astype(np.float32)
        else:
            chosen = rng.integers(0, count, size=batch_size)
            weights = np.ones(batch_size, dtype=np.float32)
        return self.make_batch(ids[chosen], positions[chosen], weights, rng)

    @classmethod
    def from_config(cls, config) -> "Replay":
        """The replay a run's config (`selfplay.config.RunConfig`) asks for: one place, so the
        local trainer, the Ray learner and the benchmarks cannot drift apart (augmentation, or
        the consistency loss's target planes)."""
        replay = config.replay
        return cls(replay.capacity_positions, config.loss.unroll_steps, td_steps=replay.td_steps,
                   discount=replay.discount, two_player=config.search.two_player,
                   priority_alpha=replay.priority_alpha, priority_beta=replay.priority_beta,
                   symmetries=replay.symmetries, target_observations=config.loss.consistency,
                   root_value_weight=replay.root_value_weight, action_labels=config.network.action_heads)

    def make_batch(self, game_ids: np.ndarray, positions: np.ndarray, weights: np.ndarray,
                   rng: np.random.Generator) -> UnrollBatch:
        """The unroll targets of the given (game id, position) rows."""
        K = self.unroll_steps
        first = self._games[int(game_ids[0])]
        num_actions = first.policies.shape[1]
        B = len(game_ids)
        observations = np.empty((B, *first.observations.shape[1:]), dtype=np.float32)
        actions = rng.integers(0, num_actions, size=(B, K)).astype(np.int64)
        target_value = np.zeros((B, K + 1), dtype=np.float32)
        target_reward = np.zeros((B, K + 1), dtype=np.float32)
        target_policy = np.zeros((B, K + 1, num_actions), dtype=np.float32)
        policy_mask = np.zeros((B, K + 1), dtype=np.float32)
        value_mask = np.zeros((B, K + 1), dtype=np.float32)
        target_observations = (np.zeros((B, K, *observations.shape[1:]), dtype=np.float32)
                               if self.target_observations else None)
        labels = self.action_labels
        target_legal = np.zeros((B, K + 1, num_actions), dtype=np.float32) if labels else None
        target_ends = np.full((B, K + 1, num_actions), -1, dtype=np.int64) if labels else None
        action_mask = np.zeros((B, K + 1), dtype=np.float32) if labels else None
        branch_action = np.zeros((B, K + 1), dtype=np.int64) if labels else None
        branch_legal = np.zeros((B, K + 1, num_actions), dtype=np.float32) if labels else None
        branch_ends = np.full((B, K + 1, num_actions), -1, dtype=np.int64) if labels else None
        branch_mask = np.zeros((B, K + 1), dtype=np.float32) if labels else None
        for row, (gid, t) in enumerate(zip(game_ids.tolist(), positions.tolist())):
            game = self._games[gid]
            length = game.length
            observations[row] = game.observations[t]
            end = min(t + K + 1, length)          # real positions t .. end-1
            real = end - t
            target_value[row, :real] = self._values[gid][t:end]
            target_policy[row, :real] = game.policies[t:end]
            policy_mask[row, :real] = 1.0
            if target_observations is not None:
                target_observations[row, :real - 1] = game.observations[t + 1:end]
            if labels and game.action_ends is not None:
                legal = game.legal_masks[t:end]
                target_legal[row, :real] = legal
                target_ends[row, :real] = np.where(legal, game.action_ends[t:end], -1)
                action_mask[row, :real] = 1.0
            if labels and game.branch_actions is not None:
                moves = game.branch_actions[t:end]
                branch_action[row, :real] = np.maximum(moves, 0)
                branch_legal[row, :real] = game.branch_legal[t:end]
                branch_ends[row, :real] = np.where(game.branch_legal[t:end], game.branch_ends[t:end], -1)
                branch_mask[row, :real] = moves >= 0
            # value/reward defined up to and including the terminal position T
            defined = min(K + 1, length - t + 1)
            value_mask[row, :defined] = 1.0
            steps = min(K, length - t)
            actions[row, :steps] = game.actions[t:t + steps]
            target_reward[row, 1:steps + 1] = game.rewards[t:t + steps]
        if self.symmetries != "none":
            per_action = [array for array in (target_policy, target_legal, target_ends, branch_legal, branch_ends)
                          if array is not None]
            self._augment(observations, [a for a in (actions, branch_action) if a is not None], per_action, rng,
                          target_observations)
        return UnrollBatch(observations, actions, target_value, target_reward, target_policy,
                           policy_mask, value_mask, weights, np.asarray(game_ids, dtype=np.int64),
                           np.asarray(positions, dtype=np.int64), target_observations,
                           target_legal, target_ends, action_mask, branch_action, branch_legal, branch_ends,
                           branch_mask)

    def _augment(self, observations: np.ndarray, action_arrays: list[np.ndarray], per_action: list[np.ndarray],
                 rng: np.random.Generator, target_observations: np.ndarray | None = None) -> None:
        """Apply one random board symmetry per row, in place, to planes, action ids
        (``action_arrays``: the unrolled actions, the branch moves) and the per-action targets
        (``per_action``: arrays ``[B, K+1, A]``: policies, action labels).

        The same symmetry maps the whole unroll, so the dynamics model sees a consistent
        transformed game; values and rewards do not change under a symmetry.
        """
        rows, channels, height, width = observations.shape
        num_actions = per_action[0].shape[2]
        permutations = symmetry_permutations(self.symmetries, height, width)
        chosen = rng.integers(0, len(permutations), size=rows)
        for index, cells in enumerate(permutations):
            selected = np.flatnonzero(chosen == index)
            if index == 0 or selected.size == 0:
                continue
            observations[selected] = permute_cells(observations[selected], cells)
            if target_observations is not None:
                target_observations[selected] = permute_cells(target_observations[selected], cells)
            action_cells = symmetry_actions(self.symmetries, cells, height, width, num_actions)
            inverse = np.empty_like(action_cells)
            inverse[action_cells] = np.arange(action_cells.shape[0])
            for array in action_arrays:
                array[selected] = inverse[array[selected]]
            for array in per_action:
                array[selected] = array[selected][:, :, action_cells]

    def update_priorities(self, game_ids: np.ndarray, positions: np.ndarray, priorities: np.ndarray) -> None:
        """Set new priorities (e.g. |predicted value - target|) for rows still stored."""
        for gid, t, priority in zip(game_ids.tolist(), positions.tolist(), priorities.tolist()):
            stored = self._priorities.get(gid)
            if stored is not None:
                stored[t] = abs(priority) + _PRIORITY_EPSILON

    def update_search(self, game_id: int, position: int, policy: np.ndarray, root_value: float) -> None:
        """Replace a position's policy target and search value (reanalyse), if still stored."""
        game = self._games.get(game_id)
        if game is None:
            return
        game.policies[position] = policy
        game.root_values[position] = root_value
        if self.td_steps >= 0 or self.root_value_weight > 0:
            self._values[game_id] = self._value_targets(game)

    def _value_targets(self, game: GameHistory) -> np.ndarray:
        return value_targets(game, self.td_steps, self.discount, self.two_player, self.root_value_weight)

    # ------------------------------------------------------------------ statistics
    def game_lengths(self) -> np.ndarray:
        return np.array([g.length for g in self._games.values()], dtype=np.int64)

    # ------------------------------------------------------------------ persistence
    def save(self, folder: Path) -> Path:
        """Write every stored game to ``folder/games.npz`` atomically; returns the path."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / REPLAY_FILE
        temporary = folder / (REPLAY_FILE + ".tmp")
        games = list(self._games.values())
        arrays: dict[str, np.ndarray] = {
            "counters": np.array([self._next_game_id, self.games_added, self.positions_added], dtype=np.int64),
            "game_ids": np.array(list(self._games), dtype=np.int64),
            "lengths": np.array([g.length for g in games], dtype=np.int64),
            "opening_lengths": np.array([g.opening.shape[0] for g in games], dtype=np.int64),
        }
        if games:
            for name in ("observations", "actions", "rewards", "to_play", "policies", "root_values",
                         "legal_masks", "opening"):
                arrays[name] = np.concatenate([getattr(g, name) for g in games])
            arrays["priorities"] = np.concatenate([self._priorities[gid] for gid in self._games])
            for name in ("action_ends", "branch_actions", "branch_legal", "branch_ends"):
                if all(getattr(g, name) is not None for g in games):
                    arrays[name] = np.concatenate([getattr(g, name) for g in games])
        arrays[CHECKSUM_ARRAY] = arrays_checksum(arrays)
        with open(temporary, "wb") as handle:
            np.savez(handle, **arrays)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        return path

    def load(self, folder: Path) -> bool:
        """Replace the contents with ``folder/games.npz``; False if there is no such file.

        ReplayError (one line) when the file is damaged: unreadable, truncated, or its arrays
        no longer match the checksum written with them (files from before checksums are only
        read). The file itself is left as it is."""
        path = Path(folder) / REPLAY_FILE
        if not path.exists():
            return False
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as error:
            raise ReplayError(f"{path}: damaged replay ({' '.join(str(error).split())[:200]})") from None
        if CHECKSUM_ARRAY in arrays and not np.array_equal(arrays[CHECKSUM_ARRAY], arrays_checksum(arrays)):
            raise ReplayError(f"{path}: damaged replay: its arrays do not match their checksum")
        try:
            self._load_arrays(arrays)
        except (KeyError, ValueError, IndexError, TypeError) as error:
            raise ReplayError(f"{path}: damaged replay ({' '.join(str(error).split())[:200]})") from None
        self._evict()
        return True

    def _load_arrays(self, data: dict[str, np.ndarray]) -> None:
        """Replace the contents with the arrays of a saved replay (see `save`)."""
        counters = data["counters"]
        lengths = data["lengths"]
        self._games.clear(), self._values.clear(), self._priorities.clear(), self._lengths.clear()
        self.num_positions = 0
        self._flat = None
        if lengths.size:
            splits = np.cumsum(lengths)[:-1]
            opening_splits = np.cumsum(data["opening_lengths"])[:-1]
            parts = {name: np.split(data[name], splits) for name in
                     ("observations", "actions", "rewards", "to_play", "policies", "root_values",
                      "legal_masks", "priorities")}
            openings = np.split(data["opening"], opening_splits)
            # replays saved before the action heads, or with a game without labels, have none
            labels = {name: np.split(data[name], splits) if name in data else None
                      for name in ("action_ends", "branch_actions", "branch_legal", "branch_ends")}
            for index, gid in enumerate(data["game_ids"].tolist()):
                game = GameHistory(**{name: parts[name][index].copy() for name in parts if name != "priorities"},
                                   opening=openings[index].copy(),
                                   **{name: None if split is None else split[index].copy()
                                      for name, split in labels.items()})
                self._store(gid, game, parts["priorities"][index].copy())
        self._next_game_id, self.games_added, self.positions_added = (int(x) for x in counters)
