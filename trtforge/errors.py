"""Named errors with exit codes; the CLI maps each to one line on stderr and its code.

Exit codes (used by every command): 0 ok, 1 internal error, 2 invalid input or usage,
3 plan infeasible (does not fit / unsupported combination), 4 required tool or hardware missing.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_INVALID = 2
EXIT_INFEASIBLE = 3
EXIT_MISSING = 4


class TrtforgeError(Exception):
    """Base of every error the user should see as one clear line (no traceback)."""

    exit_code = EXIT_INTERNAL

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        text = self.message if not self.hint else f"{self.message} ({self.hint})"
        return " ".join(text.split())

    def to_json(self) -> dict:
        return {
            "error": type(self).__name__,
            "message": self.message,
            "hint": self.hint,
            "exit_code": self.exit_code,
        }


class InvalidInput(TrtforgeError):
    """Malformed recipe, unknown GPU, bad argument: the user must change what they gave us."""

    exit_code = EXIT_INVALID


class Infeasible(TrtforgeError):
    """The request is well formed but cannot be done: does not fit, unsupported combination."""

    exit_code = EXIT_INFEASIBLE


class ToolMissing(TrtforgeError):
    """A tool or hardware the step needs is absent here (trtllm-build, docker, a GPU)."""

    exit_code = EXIT_MISSING


class StepFailed(TrtforgeError):
    """An external step (a library call or a subprocess) failed; the message says which and why."""

    exit_code = EXIT_INTERNAL


class Interrupted(TrtforgeError):
    """The user or the system stopped us (SIGINT/SIGTERM); nothing half-written was published."""

    exit_code = 130
