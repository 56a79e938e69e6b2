"""The one exception type for bad user input, shared by every package.

Anything a user can get wrong (an unknown game, a garbled player string, a checkpoint of
another game) raises ``UsageError`` with a one-line message; the `ponder` command prints it
on one line and exits with status 2. It lives in `envs/` because every package may import
`envs` and nothing else is shared by all of them.
"""


class UsageError(ValueError):
    """Bad input from the user: the message is one line, fit to print as it is."""
