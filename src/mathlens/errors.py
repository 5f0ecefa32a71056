"""One exception type for everything a user can get wrong.

The CLI turns a :class:`UserError` into a one-line message on stderr and exit code 2, never a traceback.
"""


import difflib


def did_you_mean(name: str, options, n: int = 1, cutoff: float = 0.6) -> str:
    """' (did you mean 'x'?)' for the closest of ``options``, or '' when none is close."""
    close = difflib.get_close_matches(name, list(options), n=n, cutoff=cutoff)
    return f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""


class UserError(Exception):
    """Bad input from the user: a config, a command line, a checkpoint, a formula.

    The message names the field (or file) and what is allowed; it is always one line (a line break in echoed
    user input is shown as ``\\n``). ``exit_code``: what the CLI exits with.
    """

    exit_code = 2

    def __init__(self, message: str = ""):
        super().__init__(str(message).replace("\r", "\\r").replace("\n", "\\n"))


class Diverged(UserError):
    """Training met a non-finite loss or gradient norm and stopped; the last good checkpoint is untouched."""

    exit_code = 3
