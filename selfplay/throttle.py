"""The samples-per-position ratio that both training backends hold, in one place.

The learner trains only while it has consumed fewer samples than ``samples_per_position``
times the positions delivered; actors pause while the delivered positions are more than a
headroom ahead of what the learner has consumed. If that headroom were smaller than the
positions one learner batch needs (``batch_size / samples_per_position``), the actors could
pause just short of what the learner's next step needs, and both sides would wait for each
other forever: a configured ``ratio_slack_positions`` below one batch's worth is therefore
raised to it (plus one position, so that float rounding cannot close the gap).
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class RatioThrottle:
    """When actors pause and how many learner steps may run, from the session's counters.

    Counters are this session's: ``samples_trained`` batch rows trained (or reserved),
    ``delivered`` positions sent to replay (the local trainer: finished games; the Ray driver
    counts positions played); ``replay_positions`` is what the replay holds (a resumed
    run's included).
    """

    samples_per_position: float
    slack_positions: int
    min_positions: int
    batch_size: int

    @classmethod
    def from_config(cls, config) -> "RatioThrottle":
        """From a `selfplay.config.RunConfig`."""
        return cls(samples_per_position=config.trainer.samples_per_position,
                   slack_positions=config.trainer.ratio_slack_positions,
                   min_positions=config.replay.min_positions,
                   batch_size=config.learner.batch_size)

    @property
    def headroom(self) -> float:
        """Positions the actors may deliver beyond what the learner has consumed."""
        one_batch = math.ceil(self.batch_size / self.samples_per_position) + 1
        return float(max(self.slack_positions, one_batch))

    def actor_limit(self, samples_trained: int) -> float:
        """Delivered positions at which the actors pause."""
        consumed = samples_trained / self.samples_per_position
        return max(float(self.min_positions), consumed) + self.headroom

    def learner_steps(self, samples_trained: int, delivered: int, replay_positions: int) -> int:
        """Learner steps the ratio allows now (0 until the replay holds ``min_positions``)."""
        if replay_positions < self.min_positions:
            return 0
        room = self.samples_per_position * delivered - samples_trained
        return max(0, int(room // self.batch_size))
