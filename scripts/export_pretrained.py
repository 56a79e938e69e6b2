"""Export a training checkpoint as a shipped agent: weights and config only, no optimizer.

`ponder play --game G` without `--checkpoint` plays `agent/pretrained/G.pt`; this writes that
file from a run folder or checkpoint (a few MB instead of the training checkpoint's weights +
Adam state). It keeps the run's config and step, so `docs/results.md` can say where it came
from, and its bookkeeping (games, `elapsed_seconds`, which `scripts/checkpoint_curve.py`
plots against), so exported checkpoints still make a training-time curve.

    python scripts/export_pretrained.py runs/demo            # -> agent/pretrained/tictactoe.pt
    python scripts/export_pretrained.py runs/c4 --out some/file.pt
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="run folder or checkpoint file")
    parser.add_argument("--out", type=Path, help="default: agent/pretrained/<game>.pt")
    args = parser.parse_args()

    from agent.checkpoint import (PRETRAINED_DIR, RESUME_ONLY_EXTRAS, CheckpointError, load_checkpoint, make_payload,
                                  save_checkpoint)
    from envs import get_game

    try:
        checkpoint = load_checkpoint(args.checkpoint)
    except CheckpointError as error:
        print(f"export_pretrained: {error}", file=sys.stderr)
        return 2
    game = get_game(checkpoint.game, **checkpoint.game_options)
    network = checkpoint.build_network()
    bookkeeping = {key: value for key, value in checkpoint.extra.items() if key not in RESUME_ONLY_EXTRAS}
    payload = make_payload(network, game, config=checkpoint.config, step=checkpoint.step,
                           extra={**bookkeeping, "exported_from": Path(checkpoint.path).name,
                                  "source_step": checkpoint.step})
    out = args.out or PRETRAINED_DIR / f"{game.name}.pt"
    save_checkpoint(out, payload)
    print(f"{out}: {game.name}, step {checkpoint.step}, {out.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
