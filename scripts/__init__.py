"""The `ponder` command and reproducible experiment scripts. Nothing imports this package."""
