"""The one user-facing error type, and the one way to word any error for the user.

:class:`UserError`: the user gave us something we cannot use (a file, a rig, the audio, the
timeline, a command line). Its message names the problem and says what to do, and raising it
changes nothing. Every such error in core/, train/ and the extension derives from it
(``AudioError``, ``ModelFileError``, ``SmplxNpzError``, ``DirectingError``, ``RigError``, ...);
operators and the batch command word what they report with :func:`message_for`.
"""

from __future__ import annotations

__all__ = ["UserError", "message_for"]


class UserError(ValueError):
    """Bad input; the message is for the user and says what to do (nothing was changed)."""


def message_for(exc: BaseException, task: str = "") -> str:
    """What to tell the user about ``exc``: a :class:`UserError`'s message as it is; anything
    else (a bug, or an exporter's failure) as its type and message, after "<task> failed: "
    when ``task`` (e.g. "Generating gestures") is given."""
    if isinstance(exc, UserError):
        return str(exc)
    return f"{task + ' failed: ' if task else ''}{type(exc).__name__}: {exc}"
