"""Does the learned model know which moves are legal and where the game ends? Counts at one depth.

`selfplay.fidelity` walks g along real games; at each unroll depth k this module compares,
for every action of the real position k plies later, what the model predicts with what the
rules say (`State.action_ends`, the legal mask):

- through the action heads (a network with `network.action_heads`), read exactly as the
  learned search reads them (`agent.model_ends.read_heads` with the search's default
  thresholds): legality of every action, "this move wins" and "this move ends the game";
- through the reward head, for every network: "this move wins" when g's reward for the
  move is above 0.5, the only way a MuZero tree without the heads can see a win;
- through the board model's end detector (`network.board_ends`), on the position g predicts
  after the move, read as the search reads it (`agent.model_ends.read_position_ends`): "this
  move wins" and "this move ends the game". With a detector the search takes the game's
  ends from it, and the heads give legal moves only.

Counts (true/false positives, false negatives) rather than rates, so that depths, games and
sets add up before dividing.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from envs.game import END_NONE, END_WIN
from mcts import SearchConfig

REWARD_WIN_THRESHOLD = 0.5


@dataclass
class EndCounts:
    """Confusion counts at one depth (sums over positions and actions).

    ``legal_*``: actions whose predicted legality matches the rules, out of all actions
    (heads only). ``win_*``: legal actions that win for the mover (heads). ``end_*``: legal
    actions that end the game (heads). ``reward_win_*``: legal winning actions by the reward
    head. ``detector_win_*``, ``detector_end_*``: the same by the end detector. ``positions``:
    positions counted.
    """

    positions: int = 0
    legal_correct: int = 0
    legal_total: int = 0
    win_tp: int = 0
    win_fp: int = 0
    win_fn: int = 0
    end_tp: int = 0
    end_fp: int = 0
    end_fn: int = 0
    reward_win_tp: int = 0
    reward_win_fp: int = 0
    reward_win_fn: int = 0
    detector_win_tp: int = 0
    detector_win_fp: int = 0
    detector_win_fn: int = 0
    detector_end_tp: int = 0
    detector_end_fp: int = 0
    detector_end_fn: int = 0

    def add(self, other: "EndCounts") -> None:
        for item in fields(self):
            setattr(self, item.name, getattr(self, item.name) + getattr(other, item.name))

    def as_dict(self) -> dict:
        """The counts and the rates they give (None where undefined: no positive, no heads)."""
        def ratio(num: int, den: int) -> float | None:
            return round(num / den, 6) if den else None

        counts = {item.name: getattr(self, item.name) for item in fields(self)}
        rates = {
            "legal_accuracy": ratio(self.legal_correct, self.legal_total),
            "win_precision": ratio(self.win_tp, self.win_tp + self.win_fp),
            "win_recall": ratio(self.win_tp, self.win_tp + self.win_fn),
            "end_precision": ratio(self.end_tp, self.end_tp + self.end_fp),
            "end_recall": ratio(self.end_tp, self.end_tp + self.end_fn),
            "reward_win_precision": ratio(self.reward_win_tp, self.reward_win_tp + self.reward_win_fp),
            "reward_win_recall": ratio(self.reward_win_tp, self.reward_win_tp + self.reward_win_fn),
            "detector_win_precision": ratio(self.detector_win_tp, self.detector_win_tp + self.detector_win_fp),
            "detector_win_recall": ratio(self.detector_win_tp, self.detector_win_tp + self.detector_win_fn),
            "detector_end_precision": ratio(self.detector_end_tp, self.detector_end_tp + self.detector_end_fp),
            "detector_end_recall": ratio(self.detector_end_tp, self.detector_end_tp + self.detector_end_fn),
        }
        return {**counts, **rates}


def _confusion(predicted: np.ndarray, actual: np.ndarray) -> tuple[int, int, int]:
    return (int((predicted & actual).sum()), int((predicted & ~actual).sum()), int((~predicted & actual).sum()))


def count_ends(network, hidden, legal: np.ndarray, action_ends: np.ndarray,
               search: SearchConfig | None = None, positive_weight: float = 1.0) -> EndCounts:
    """Counts for hidden states ``[N, ...]`` standing for real positions with legal masks
    ``legal`` bool ``[N, A]`` and rule labels ``action_ends`` int8 ``[N, A]`` (`END_*`).

    ``search`` gives the thresholds the heads are read with (the defaults of `SearchConfig`
    when None) and ``positive_weight`` the end loss's weight of game-ending examples
    (`agent.model_ends.end_probabilities`), as the agent reads them. Runs under torch's no-grad;
    the caller picks the network's inference mode.
    """
    import torch

    from agent.model_ends import read_heads, read_position_ends

    search = search or SearchConfig()
    counts = EndCounts(positions=int(legal.shape[0]))
    if legal.shape[0] == 0:
        return counts
    wins = legal & (action_ends == END_WIN)
    ends = legal & (action_ends != END_NONE)
    with torch.no_grad():
        if getattr(network, "action_heads", None) is not None:
            legal_logits, end_logits = network.predict_actions(hidden)
            reading = read_heads(legal_logits, end_logits, search.legal_threshold, search.end_threshold,
                                 positive_weight)
            legal_probability = torch.sigmoid(legal_logits.float()).cpu().numpy()
            counts.legal_correct = int(((legal_probability >= search.legal_threshold) == legal).sum())
            counts.legal_total = int(legal.size)
            predicted_win = legal & reading.ends & (reading.end_reward > REWARD_WIN_THRESHOLD)
            counts.win_tp, counts.win_fp, counts.win_fn = _confusion(predicted_win, wins)
            counts.end_tp, counts.end_fp, counts.end_fn = _confusion(legal & reading.ends, ends)
        num_actions = legal.shape[1]
        rewards = np.zeros(legal.shape, dtype=np.float64)
        detector = getattr(network, "board_ends", None) is not None
        detected_end = np.zeros(legal.shape, dtype=bool)
        detected_win = np.zeros(legal.shape, dtype=bool)
        for action in range(num_actions):
            rows = np.flatnonzero(legal[:, action])       # a model is only asked about legal moves
            if rows.size == 0:
                continue
            index = torch.from_numpy(rows).to(hidden.device)
            actions = torch.full((rows.size,), action, dtype=torch.int64, device=hidden.device)
            after, reward, _, _ = network.recurrent(hidden.index_select(0, index), actions)
            rewards[rows, action] = reward.double().cpu().numpy()
            if detector:
                position = read_position_ends(network.position_ends(after), search.end_threshold)
                detected_end[rows, action] = position.ended
                detected_win[rows, action] = position.ended & (position.reward > REWARD_WIN_THRESHOLD)
    predicted_reward_win = legal & (rewards > REWARD_WIN_THRESHOLD)
    counts.reward_win_tp, counts.reward_win_fp, counts.reward_win_fn = _confusion(predicted_reward_win, wins)
    if detector:
        counts.detector_win_tp, counts.detector_win_fp, counts.detector_win_fn = _confusion(detected_win, wins)
        counts.detector_end_tp, counts.detector_end_fp, counts.detector_end_fn = _confusion(detected_end, ends)
    return counts
