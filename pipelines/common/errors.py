"""User-facing errors: bad input files and bad configuration.

Both carry a message that names the offending file or config key and says how to fix it;
rules let them propagate so that the job fails before writing any output.
"""


class InputError(ValueError):
    """A recording, connectome or other input file is missing, corrupt or inconsistent."""

    def __init__(self, path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class ConfigError(ValueError):
    """The configuration is invalid; the message names the dotted key."""

    def __init__(self, key: str, problem: str):
        self.key = key
        self.problem = problem
        super().__init__(f"config key '{key}': {problem}")
