"""A hand-set tic-tac-toe "network" for search tests: it knows the rules, so the truth is known.

The hidden state is the observation itself (plane 0 the mover's stones, plane 1 the
other's, as the tictactoe state writes them). g places a stone and swaps the planes; f
gives uniform priors over the empty squares. Who won is reported in one of two ways, to test both sign paths of
the search: ``mode="ends"`` says nothing through reward or value (both 0) and tells legal
moves and game ends only through action heads (`predict_actions`, as
`agent.networks.ActionHeads` would), ``mode="reward"`` gives reward +1 to the player whose move completes a line
(the mover's view) and 0 afterwards; ``mode="value"`` gives value -1 to the player to
move once the opponent has a line and +1 once they have one (the view of the player to
move), reward 0. Once a line exists, g leaves the board as it is (an absorbing state).
"""

import numpy as np
import torch
from torch import nn

import envs
from agent.networks import GameSpec

LINES = [(0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6)]


def _cell_of_action(game) -> list[int]:
    """Flat plane index of each action id, read off the game's own planes."""
    cells = []
    for action in range(game.num_actions):
        planes = game.initial_state().play(action).planes_for(0)
        cells.append(int(np.flatnonzero(planes[0].reshape(-1))[0]))
    return cells


class RulesNetwork(nn.Module):
    def __init__(self, mode: str = "reward") -> None:
        super().__init__()
        game = envs.get_game("tictactoe")
        self.spec = GameSpec.of(game)
        self.mode = mode
        self.register_buffer("cells", torch.tensor(_cell_of_action(game)))
        self.register_buffer("lines", torch.tensor(LINES))
        self.calls = 0
        self.action_heads = True if mode == "ends" else None   # what the agent checks for heads
        self.head_calls = 0

    def predict_actions(self, hidden):
        """Exact legality (+-20 logits) and game ends (END_WIN for a move completing the
        mover's line, END_DRAW for one filling the board) of every action."""
        from envs.game import END_CLASSES, END_DRAW, END_NONE, END_WIN
        self.head_calls += 1
        n = hidden.shape[0]
        flat = hidden.reshape(n, 2, 9)
        over = self._won(flat[:, 0]) | self._won(flat[:, 1])
        occupied = flat.sum(1)[:, self.cells] > 0
        legal = ~occupied & ~over[:, None]
        codes = torch.full((n, 9), END_NONE, dtype=torch.long)
        stones = occupied.sum(1)
        for action in range(9):
            placed = flat[:, 0].clone()
            placed[:, self.cells[action]] = 1.0
            wins = self._won(placed) & legal[:, action]
            codes[:, action] = torch.where(wins, END_WIN, torch.where(legal[:, action] & (stones == 8), END_DRAW,
                                                                      END_NONE))
        end_logits = torch.nn.functional.one_hot(codes, END_CLASSES).float() * 40.0 - 20.0
        return torch.where(legal, 20.0, -20.0), end_logits

    def _won(self, flat_stones: torch.Tensor) -> torch.Tensor:
        return (flat_stones[:, self.lines].sum(-1) >= 3).any(-1)

    def _score(self, planes: torch.Tensor) -> torch.Tensor:
        """+1 if the player to move has a line, -1 if the other has, else 0."""
        n = planes.shape[0]
        return self._won(planes[:, 0].reshape(n, 9)).float() - self._won(planes[:, 1].reshape(n, 9)).float()

    def initial(self, planes):
        self.calls += 1
        n = planes.shape[0]
        value = self._score(planes) if self.mode == "value" else torch.zeros(n)
        return planes.clone(), self._logits(planes), value

    def recurrent(self, hidden, actions):
        """Place the mover's stone unless the game is already over (then an absorbing state)."""
        self.calls += 1
        n = hidden.shape[0]
        flat = hidden.reshape(n, 2, 9).clone()
        over_before = self._won(flat[:, 0]) | self._won(flat[:, 1])
        cells = self.cells[actions.long()]
        occupied = flat[torch.arange(n), :, cells].sum(-1) > 0
        place = ~over_before & ~occupied          # an occupied square is a wasted move
        flat[torch.arange(n)[place], 0, cells[place]] = 1.0
        won = self._won(flat[:, 0]) & ~over_before
        next_hidden = flat[:, [1, 0]].reshape(n, 2, 3, 3)
        logits = self._logits(next_hidden)
        if self.mode == "ends":
            return next_hidden, torch.zeros(n), logits, torch.zeros(n)
        if self.mode == "reward":
            return next_hidden, won.float(), logits, torch.zeros(n)
        return next_hidden, torch.zeros(n), logits, self._score(next_hidden)

    def _logits(self, planes: torch.Tensor) -> torch.Tensor:
        """Uniform over empty squares, -20 on occupied ones (the model knows the rules)."""
        n = planes.shape[0]
        occupied = planes.reshape(n, 2, 9).sum(1)[:, self.cells] > 0
        return torch.where(occupied, torch.full((n, 9), -20.0), torch.zeros(n, 9))
