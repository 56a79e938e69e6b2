"""The MuZero agent: networks (h, g, f), batched search-backed acting, losses, checkpoints, engine, play."""
