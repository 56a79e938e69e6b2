"""How deep the board model's g must be for a game: fit g alone on random-play transitions.

The board model's g (`agent.networks.BoardDynamics`) is a stack of 3x3 convolutions, so a
cell's next value can depend only on cells within ``layers`` steps of it. In Connect Four a
move changes one cell; in Othello a disc flips when a line of the opponent's discs runs from
the new disc to one of the mover's, up to six discs long on 8x8: a cell in a run of L
opponent discs must see both ends, so g needs at least L layers. This script measures both
sides of that: the share of random-play placements whose longest adjacent opponent run is at
least k (Othello only), and, for each ``--config LAYERSxWIDTH``, the share of held-out
transitions whose whole next board g predicts exactly after ``--minutes`` of fitting (Adam,
batch 256, binary cross-entropy per cell, as `ponder fit-model` fits it; one thread).

    python scripts/board_dynamics_reach.py --game othello --config 3x32 --config 6x32 --minutes 4

With ``--checkpoint FITTED`` (an Othello board model) it fits nothing: it reads the checkpoint's
g on ``--test`` random-play transitions and gives its share of wrong next boards by the longest
line of discs the move flips, which says whether g's misses are the ones its reach cuts short.

    python scripts/board_dynamics_reach.py --checkpoint FITTED --test 20000
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def transitions(game, count: int, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(planes, action, next planes) along uniformly random games, ``count`` of them."""
    planes, actions, following = [], [], []
    while len(planes) < count:
        state = game.initial_state()
        while not state.is_terminal():
            action = int(rng.choice(state.legal_actions()))
            after = state.play(action)
            planes.append(state.planes())
            actions.append(action)
            following.append(after.planes())
            state = after
    return np.array(planes[:count]), np.array(actions[:count]), np.array(following[:count])


def othello_run_shares(game, games: int, rng, lengths=(4, 5, 6)) -> dict[int, float]:
    """Share of random-play placements whose longest run of opponent discs next to the new
    disc (in any of the 8 directions) is at least each of ``lengths``."""
    from envs.othello import DIRECTIONS

    size, counts, placements = game.size, dict.fromkeys(lengths, 0), 0
    for _ in range(games):
        state = game.initial_state()
        while not state.is_terminal():
            action = int(rng.choice(state.legal_actions()))
            if action != game.pass_action:
                row, column = divmod(action, size)
                opponent, longest = 2 - state.to_play, 0
                for d_row, d_col in DIRECTIONS:
                    r, c, run = row + d_row, column + d_col, 0
                    while 0 <= r < size and 0 <= c < size and state.board[r, c] == opponent:
                        r, c, run = r + d_row, c + d_col, run + 1
                    longest = max(longest, run)
                placements += 1
                for length in lengths:
                    counts[length] += longest >= length
            state = state.play(action)
    return {length: count / placements for length, count in counts.items()}


def longest_flip(game, state, action: int, after=None) -> int:
    """The longest line of discs ``action`` flips in Othello (0 for a pass), read off the
    rules' own move (``after``, ``state.play(action)`` when not given): the discs that changed
    colour, counted along each direction from the new disc."""
    from envs.othello import DIRECTIONS

    if action == game.pass_action:
        return 0
    after = state.play(action) if after is None else after
    flipped = (state.board != 0) & (after.board != state.board)
    size, (row, column) = game.size, divmod(action, game.size)
    longest = 0
    for d_row, d_col in DIRECTIONS:
        r, c, run = row + d_row, column + d_col, 0
        while 0 <= r < size and 0 <= c < size and flipped[r, c]:
            r, c, run = r + d_row, c + d_col, run + 1
        longest = max(longest, run)
    return longest


def misses_by_flip(checkpoint: str, count: int, rng) -> dict[int, tuple[int, int]]:
    """{longest flipped line: (transitions, wrong next boards)} of a fitted Othello board
    model's g on ``count`` transitions along uniformly random games."""
    import torch

    from agent.checkpoint import load_checkpoint
    from envs import get_game
    from envs.errors import UsageError

    loaded = load_checkpoint(checkpoint)
    if loaded.game != "othello" or loaded.network_config.get("dynamics") != "board":
        raise UsageError(f"{checkpoint}: --checkpoint reads an Othello board model's g")
    game, network = get_game(loaded.game, **loaded.game_options), loaded.build_network().eval()
    states, actions = [], []
    while len(states) < count:
        state = game.initial_state()
        while not state.is_terminal() and len(states) < count:
            action = int(rng.choice(state.legal_actions()))
            states.append(state)
            actions.append(action)
            state = state.play(action)
    table: dict[int, tuple[int, int]] = {}
    for start in range(0, count, 1024):
        chunk = range(start, min(start + 1024, count))
        afters = [states[i].play(actions[i]) for i in chunk]
        planes = torch.from_numpy(np.stack([states[i].planes() for i in chunk]))
        following = np.stack([after.planes() for after in afters]) > 0.5
        with torch.no_grad():
            predicted = network.board_logits(planes, torch.tensor([actions[i] for i in chunk])).float() > 0
        right = (predicted.numpy() == following).reshape(len(chunk), -1).all(1)
        for i, after, exact in zip(chunk, afters, right):
            length = longest_flip(game, states[i], actions[i], after)
            seen, wrong = table.get(length, (0, 0))
            table[length] = (seen + 1, wrong + int(not exact))
    return dict(sorted(table.items()))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--game", default="othello")
    parser.add_argument("--config", action="append", help="LAYERSxWIDTH of g (repeatable)")
    parser.add_argument("--checkpoint", help="read this fitted Othello board model's g instead of fitting one")
    parser.add_argument("--minutes", type=float, default=4.0, help="fitting time per config")
    parser.add_argument("--train", type=int, default=120_000, help="training transitions")
    parser.add_argument("--test", type=int, default=5_000, help="held-out transitions")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import torch

    import envs
    from agent.networks import BoardDynamics, GameSpec, fixed_action_planes
    from envs.errors import UsageError

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    if args.checkpoint:
        try:
            table = misses_by_flip(args.checkpoint, args.test, np.random.default_rng(args.seed))
        except UsageError as error:
            print(f"board_dynamics_reach: {error}", file=sys.stderr)
            return 2
        total = sum(seen for seen, _ in table.values())
        wrong = sum(missed for _, missed in table.values())
        print(f"{args.checkpoint}: {wrong} of {total:,} random-play next boards wrong ({wrong / total:.2%})")
        print("| longest line flipped | transitions | wrong |\n|---|---|---|")
        for length, (seen, missed) in table.items():
            print(f"| {length} | {seen:,} | {missed} ({missed / seen:.2%}) |")
        return 0
    if not args.config:
        print("board_dynamics_reach: give --config LAYERSxWIDTH (or --checkpoint FITTED)", file=sys.stderr)
        return 2
    game = envs.get_game(args.game)
    rng = np.random.default_rng(args.seed)
    if game.name == "othello":
        shares = othello_run_shares(game, 2_000, rng)
        print("placements with an adjacent opponent run of at least "
              + ", ".join(f"{length}: {share:.1%}" for length, share in shares.items()))
    train = [torch.tensor(part) for part in transitions(game, args.train, rng)]
    test = [torch.tensor(part) for part in transitions(game, args.test, rng)]
    table = fixed_action_planes("board", GameSpec(game.observation_shape, game.num_actions))
    planes = game.observation_shape[0]
    for config in args.config:
        layers, width = (int(part) for part in config.split("x"))
        g = BoardDynamics(planes, table.shape[1], width, layers)
        optimizer = torch.optim.Adam(g.parameters(), 2e-3)
        start, steps = time.monotonic(), 0
        while time.monotonic() - start < args.minutes * 60:
            batch = torch.randint(0, len(train[0]), (256,))
            logits = g(train[0][batch], table[train[1][batch]])
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, train[2][batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            steps += 1
        with torch.no_grad():
            predicted = (g(test[0], table[test[1]]) > 0).to(test[2].dtype)
        exact = (predicted == test[2]).flatten(1).all(1).double().mean().item()
        print(f"g {layers} layers x {width}: {steps} steps in {args.minutes:g} min, "
              f"exact next boards {exact:.1%} of {args.test:,} held-out transitions")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
