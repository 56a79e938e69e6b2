"""Games: PettingZoo AEC envs, the registry, the game adapter, baseline players, the Gymnasium bridge."""
