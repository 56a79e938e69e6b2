"""Export a training checkpoint as a shipped agent: weights and config only, no optimizer.

`ponder play --game G` without `--checkpoint` plays `agent/pretrained/G.pt`; this writes that
file from a run folder or checkpoint (a few MB instead of the training checkpoint's weights +
Adam state). It keeps the run's config and step, so `docs/notebook.md` can say where it came
from, and its bookkeeping (games, `elapsed_seconds`, which `scripts/checkpoint_curve.py`
plots against), so exported checkpoints still make a training-time curve.

    python scripts/export_pretrained.py runs/demo            # -> agent/pretrained/tictactoe.pt
    python scripts/export_pretrained.py runs/c4 --out some/file.pt
    python scripts/export_pretrained.py runs/c4 --play-root puct   # plays over its learned model

``--play-root`` names the root the agent plays with when a user names none (`ponder play`,
`engine`, `arena`'s `agent:PATH:SIMS`): by default an agent plays as its self-play searched,
so one trained over the rules but shipped to search its learned model says so here.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="run folder or checkpoint file")
    parser.add_argument("--out", type=Path, help="default: agent/pretrained/<game>.pt")
    parser.add_argument("--play-root", help="the root it plays with by default (e.g. puct: its learned model)")
    args = parser.parse_args()

    from agent.checkpoint import (PRETRAINED_DIR, RESUME_ONLY_EXTRAS, CheckpointError, load_checkpoint, make_payload,
                                  save_checkpoint)
    from agent.player import PLAY_ROOT_EXTRA
    from agent.roots import Root
    from envs import get_game
    from envs.errors import UsageError

    if args.play_root is not None:
        try:
            args.play_root = str(Root.parse(args.play_root, "--play-root"))
        except UsageError as error:
            print(f"export_pretrained: {error}", file=sys.stderr)
            return 2

    try:
        checkpoint = load_checkpoint(args.checkpoint)
    except CheckpointError as error:
        print(f"export_pretrained: {error}", file=sys.stderr)
        return 2
    game = get_game(checkpoint.game, **checkpoint.game_options)
    network = checkpoint.build_network()
    bookkeeping = {key: value for key, value in checkpoint.extra.items() if key not in RESUME_ONLY_EXTRAS}
    extra = {**bookkeeping, "exported_from": Path(checkpoint.path).name, "source_step": checkpoint.step}
    if args.play_root is not None:
        extra[PLAY_ROOT_EXTRA] = args.play_root
    payload = make_payload(network, game, config=checkpoint.config, step=checkpoint.step, extra=extra)
    out = args.out or PRETRAINED_DIR / f"{game.name}.pt"
    save_checkpoint(out, payload)
    print(f"{out}: {game.name}, step {checkpoint.step}, {out.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
