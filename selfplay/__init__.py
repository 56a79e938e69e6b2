"""Self-play training (actors, replay, learner, trainer), the arena, the ablation harness and ratings."""
