"""What the learned tree knows of legal moves and game ends: the action heads, read per node.

A MuZero search steps through g without knowing which moves are legal below the root or
where the game ended; none of the peers masks or stops there. A network with action heads
(`agent.networks.ActionHeads`) predicts both for every action of every hidden state, and the
learned search (`Agent._search`) uses them through this module:

- each new node's legal mask is the actions whose predicted legality is at least
  ``SearchConfig.legal_threshold`` (all actions if none is: the heads contradict
  themselves, and the prior decides);
- each node remembers, per action, whether taking it ends the game (predicted probability
  of an end above ``end_threshold``) and with what reward for the mover (the expected
  result given an end);
- a transition into a predicted end gets that reward and value 0, and everything below it
  is absorbing (reward 0, value 0): the search backs a game end up exactly as it does over
  the rules, and spends no thought past it;
- any other transition gets reward 0 (`SearchConfig.end_rewards_only`, the default): board
  games reward only at their end, so g's reward head there is noise.

The per-node record is one float32 array ``[B, capacity, 2A + 1]`` (`NodeEnds`), so that a
tree reused between moves carries it like the hidden states.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from envs.game import END_LOSS, END_NONE, END_REWARDS, END_WIN


@dataclass(frozen=True)
class HeadReading:
    """The action heads of B hidden states, thresholded by a `SearchConfig`.

    - ``legal`` bool ``[B, A]``: the actions the tree may expand (at least one per row).
    - ``ends`` bool ``[B, A]``: taking the action ends the game.
    - ``end_reward`` float32 ``[B, A]``: the mover's reward if it does (expected result
      given an end: win 1, draw 0, loss -1).
    """

    legal: np.ndarray
    ends: np.ndarray
    end_reward: np.ndarray


def _calibrated_logits(end_logits: torch.Tensor, positive_weight: float) -> torch.Tensor:
    """End logits with log(w) taken off every ending class (see `end_probabilities`)."""
    logits = end_logits.float()
    if positive_weight == 1.0:
        return logits
    return torch.cat([logits[..., :1], logits[..., 1:] - float(np.log(positive_weight))], dim=-1)


def end_probabilities(end_logits: torch.Tensor, positive_weight: float = 1.0) -> np.ndarray:
    """float ``[B, A, E]`` probabilities of the `END_*` classes from end logits, calibrated.

    A head trained with ``loss.end_positive_weight`` w > 1 counts each game-ending example w
    times, which multiplies the odds of every ending class by w; dividing them by w again
    gives the probabilities of the data, so that thresholds mean the same for every run."""
    return torch.softmax(_calibrated_logits(end_logits, positive_weight), dim=-1).cpu().numpy()


def _read_ends(end_logits: torch.Tensor, end_threshold: float, positive_weight: float
               ) -> tuple[np.ndarray, np.ndarray]:
    """(ends bool, expected reward float32) of end logits ``[..., E]``: an end where its
    calibrated probability is above ``end_threshold``; the reward is the mover's expected
    result given an end."""
    probabilities = torch.softmax(_calibrated_logits(end_logits, positive_weight), dim=-1)
    end_probability = 1.0 - probabilities[..., 0]
    rewards = torch.as_tensor(END_REWARDS[1:], dtype=probabilities.dtype, device=probabilities.device)
    expected = (probabilities[..., 1:] * rewards).sum(dim=-1) / end_probability.clamp(min=1e-6)
    return ((end_probability > end_threshold).cpu().numpy(),
            expected.clamp(-1.0, 1.0).cpu().numpy().astype(np.float32))


@dataclass(frozen=True)
class PositionEnds:
    """The board model's end detector on B new positions (`agent.networks.BoardEnds`):
    ``ended`` bool ``[B]`` the game is over there, ``reward`` float32 ``[B]`` the result for
    the player who moved into it."""

    ended: np.ndarray
    reward: np.ndarray


def read_position_ends(end_logits: torch.Tensor, end_threshold: float, positive_weight: float = 1.0
                       ) -> PositionEnds:
    """`PositionEnds` of the detector's logits ``[B, E]``, thresholded as the heads' ends are."""
    return PositionEnds(*_read_ends(end_logits, end_threshold, positive_weight))


def score_position_ends(reading: PositionEnds, classes: np.ndarray) -> tuple[int, int, int]:
    """(ends read with the right result, real ends, ends read) of a detector's ``reading``
    against the rules' `END_*` ``classes`` ``[N]``: a win is read right with a reward above
    0.5, a loss below -0.5, a draw in between. Precision and recall, as the search reads them."""
    real_end, read_end, result = classes != END_NONE, reading.ended, reading.reward
    right = np.where(classes == END_WIN, result > 0.5, np.where(classes == END_LOSS, result < -0.5,
                                                                 np.abs(result) <= 0.5))
    return int((real_end & read_end & right).sum()), int(real_end.sum()), int(read_end.sum())


def read_legal(legal_logits: torch.Tensor, legal_threshold: float) -> np.ndarray:
    """bool ``[B, A]``: the actions whose predicted legality reaches ``legal_threshold``
    (compared in logit space), every action in a row where none does."""
    legal = (legal_logits.float() >= float(np.log(legal_threshold / (1.0 - legal_threshold)))).cpu().numpy()
    legal[~legal.any(axis=1)] = True
    return legal


def read_heads(legal_logits: torch.Tensor, end_logits: torch.Tensor, legal_threshold: float,
               end_threshold: float, positive_weight: float = 1.0) -> HeadReading:
    """Threshold legal logits ``[B, A]`` and end logits ``[B, A, E]`` (`END_*` classes);
    ``positive_weight``: the end loss's weight of game-ending examples (`end_probabilities`).

    Called once per simulation of a learned search, so the arithmetic stays in torch and
    crosses to numpy once: legality is compared in logit space (no sigmoid), and the expected
    result of an ending is the probability-weighted reward of the ending classes."""
    ends, end_reward = _read_ends(end_logits, end_threshold, positive_weight)
    return HeadReading(legal=read_legal(legal_logits, legal_threshold), ends=ends, end_reward=end_reward)


class NodeEnds:
    """Per node of B trees: for each action, whether it ends the game and its reward, and
    whether the node itself lies at or past a game end (absorbing).

    Backed by ``array`` float32 ``[B, capacity, 2A + 1]``: ``[..., :A]`` 1 where the action
    ends the game, ``[..., A:2A]`` its reward, ``[..., 2A]`` 1 for an ended node.
    """

    def __init__(self, array: np.ndarray, num_actions: int) -> None:
        self.array = array
        self.num_actions = num_actions
        self._rows = np.arange(array.shape[0])

    @classmethod
    def empty(cls, batch: int, capacity: int, num_actions: int) -> "NodeEnds":
        return cls(np.zeros((batch, capacity, 2 * num_actions + 1), dtype=np.float32), num_actions)

    def set_roots(self, reading: HeadReading) -> None:
        """Node 0 of every tree: a real position (never ended) with the heads' reading."""
        self.record(np.zeros(len(self._rows), dtype=np.int64), reading, np.zeros(len(self._rows), dtype=bool))

    def edges(self, parents: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For the selected edges (parent node, action) of each tree: (the parent is ended,
        the action ends the game, its reward), each ``[B]``."""
        at_parent = self.array[self._rows, parents]
        A = self.num_actions
        return at_parent[:, 2 * A] > 0, at_parent[self._rows, actions] > 0, at_parent[self._rows, A + actions]

    def record(self, nodes: np.ndarray, reading: HeadReading, ended: np.ndarray) -> None:
        """Store the reading of each tree's node ``nodes[b]`` and whether it is ended."""
        A = self.num_actions
        self.array[self._rows, nodes, :A] = reading.ends
        self.array[self._rows, nodes, A:2 * A] = reading.end_reward
        self.array[self._rows, nodes, 2 * A] = ended


def step_through_ends(node_ends: NodeEnds, parents: np.ndarray, actions: np.ndarray, reward: np.ndarray,
                      value: np.ndarray, reading: HeadReading, position: PositionEnds | None = None,
                      end_rewards_only: bool = False
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The expansion of the selected edges with the game's ends applied.

    Returns (reward ``[B]``, value ``[B]``, legal mask ``[B, A]`` of the new nodes, ended
    ``[B]``: the new node is at or past a game end, game_end ``[B]``: the game ends at the
    new node itself, what MCTS-Solver proves from). Below an ended node everything is
    absorbing; a transition the parent predicts to end the game takes the predicted reward
    and value 0; any other keeps f's value and g's reward (reward 0 with ``end_rewards_only``:
    `SearchConfig.end_rewards_only`). With the board model's end detector (``position``), a
    new position it reads as ended is such an end too, with its reward.
    """
    parent_ended, edge_ends, edge_reward = node_ends.edges(parents, actions)
    if position is not None:
        edge_ends = edge_ends | position.ended
        edge_reward = np.where(position.ended, position.reward, edge_reward)
    ended = parent_ended | edge_ends
    going_on = np.zeros_like(reward) if end_rewards_only else reward
    reward = np.where(parent_ended, 0.0, np.where(edge_ends, edge_reward, going_on)).astype(np.float32)
    value = np.where(ended, 0.0, value).astype(np.float32)
    legal = reading.legal.copy()
    legal[ended] = True
    return reward, value, legal, ended, edge_ends & ~parent_ended
