"""The one exception type of the sandbox: a message meant for the operator."""


class SandboxError(Exception):
    """A sandbox operation failed; ``str(exc)`` is a one-line explanation."""
