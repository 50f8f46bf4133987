"""The one user-facing error type, and the one way to word any error for the user.

:class:`UserError`: the user gave us something we cannot use (a file, a rig, the audio, the
timeline, a command line). Its message names the problem and says what to do, and raising it
changes nothing. Every such error in core/, train/ and the extension derives from it
(``AudioError``, ``ModelFileError``, ``SmplxNpzError``, ``DirectingError``, ``RigError``, ...);
operators and the batch command word what they report with :func:`message_for`.

A message is right where it is raised: a function that checks something the user gave takes
the label to name it by (``read_preset(path, source)``, ``check_audio(..., where=...)``,
``parse_size(text, option)``). Only where the code that raises is several layers away from
knowing the label (a whole import, a rig's inspection through its bone map and retargeting,
a model file's many checks) does :func:`about` add it, the one place that does.
"""

from __future__ import annotations

from contextlib import contextmanager

__all__ = ["UserError", "about", "message_for"]


class UserError(ValueError):
    """Bad input; the message is for the user and says what to do (nothing was changed)."""


def message_for(exc: BaseException, task: str = "") -> str:
    """What to tell the user about ``exc``: a :class:`UserError`'s message as it is; anything
    else (a bug, or an exporter's failure) as its type and message, after "<task> failed: "
    when ``task`` (e.g. "Generating gestures") is given."""
    if isinstance(exc, UserError):
        return str(exc)
    return f"{task + ' failed: ' if task else ''}{type(exc).__name__}: {exc}"


@contextmanager
def about(label: str):
    """Name the input the block checks: a :class:`UserError` raised inside leaves as the same
    type of error with ``"<label>: "`` before its message (``--pin wave.npz@45: ...``,
    ``Cannot load the gesture model: ...``); anything else passes untouched.

    The one way a user error gains context after it was raised: use it only where the code
    that raises cannot be given the label (see the module's docstring)."""
    try:
        yield
    except UserError as exc:
        raise type(exc)(f"{label}: {exc}") from None
