"""The samples-per-position throttle: whenever the actors pause, the learner can step."""
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from selfplay.throttle import RatioThrottle

throttles = st.builds(
    RatioThrottle,
    samples_per_position=st.floats(0.05, 50.0, allow_nan=False),
    slack_positions=st.integers(0, 5_000),
    min_positions=st.integers(0, 5_000),
    batch_size=st.integers(1, 1_024),
)


@settings(max_examples=500, deadline=None)
@given(throttle=throttles, steps_done=st.integers(0, 10_000), extra=st.floats(0.0, 10_000.0))
def test_paused_actors_always_leave_the_learner_a_step(throttle, steps_done, extra):
    """Any delivered count at which actors pause lets the learner take its next step."""
    samples = steps_done * throttle.batch_size
    delivered = int(throttle.actor_limit(samples) + extra) + 1   # at or past the pause point
    assert throttle.learner_steps(samples, delivered, replay_positions=delivered) >= 1


def test_the_state_that_deadlocked_in_ci():
    """The end-to-end test's numbers: slack 10 is less than the 16 positions a batch of 32 needs
    at 2 samples per position, so with 60 positions delivered and 3 steps taken the old rule
    paused the actors (60 >= 48 + 10) while the learner needed 64 for step 4."""
    throttle = RatioThrottle(samples_per_position=2.0, slack_positions=10, min_positions=40, batch_size=32)
    samples = 3 * 32
    assert throttle.headroom >= 16
    assert throttle.actor_limit(samples) > 60          # the actors keep playing
    assert throttle.learner_steps(samples, 60, 60) == 0
    assert throttle.learner_steps(samples, 64, 64) == 1


@settings(max_examples=200, deadline=None)
@given(throttle=throttles, game_length=st.integers(1, 60), games_per_delivery=st.integers(1, 64))
def test_a_lockstep_loop_reaches_its_step_budget(throttle, game_length, games_per_delivery):
    """Actors deliver whole games in bursts until they pause, the learner steps when allowed:
    the 20 steps always come (each round either steps, or delivers, or is a deadlock)."""
    burst = game_length * games_per_delivery
    samples = delivered = 0
    while samples < 20 * throttle.batch_size:
        if throttle.learner_steps(samples, delivered, delivered):
            samples += throttle.batch_size
            continue
        limit = throttle.actor_limit(samples)
        if delivered >= limit:
            raise AssertionError(f"deadlock at {samples} samples, {delivered} delivered")
        delivered += math.ceil((limit - delivered) / burst) * burst     # play on until paused


def test_a_generous_slack_is_kept():
    throttle = RatioThrottle(samples_per_position=4.0, slack_positions=2_000, min_positions=1_000, batch_size=256)
    assert throttle.headroom == 2_000
    assert throttle.actor_limit(0) == 3_000
    assert throttle.actor_limit(40_000) == 12_000
