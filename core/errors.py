"""The error tree. Every message is user-facing and says what to do next."""

from __future__ import annotations


class CuaError(Exception):
    """Base of every error cua raises on purpose."""


class ConfigError(CuaError):
    """A bad flag, environment variable or config-file value."""


class DesktopError(CuaError):
    """No display, capture or input failed, or the environment is not usable."""


class RecordError(DesktopError):
    """The run record cannot be written (disk full, read-only folder): the run stops (exit 5)."""


class ModelError(CuaError):
    """The API failed in a way retries could not fix."""


class ActionError(Exception):
    """A mistake Claude can fix (off-screen point, unknown key): sent back as an is_error result.

    Deliberately not a CuaError: it never ends a run.
    """


class FailSafeTriggered(CuaError):
    """Someone pushed the mouse into a screen corner: the fail-safe, taken as an abort."""


class Terminated(KeyboardInterrupt):
    """SIGTERM: ends the run the way Ctrl-C does, with its own exit code (143)."""


class HungUp(Terminated):
    """SIGHUP (the terminal closed, a service manager's hang-up): ends the run the way SIGTERM
    does, with its own exit code (129)."""


class DeadlineExceeded(BaseException):
    """The --timeout wall-clock budget ran out mid-step (raised from a timer signal).

    A BaseException so that no `except Exception` on the way up can swallow it.
    """
