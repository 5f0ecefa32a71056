"""One exception type for everything a user can get wrong.

The CLI turns a :class:`UserError` into a one-line message on stderr and exit code 2, never a traceback.
"""


class UserError(Exception):
    """Bad input from the user: a config, a command line, a checkpoint, a formula.

    The message names the field (or file) and what is allowed.
    """
