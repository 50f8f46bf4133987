"""Files, safely: writing whole or not at all, reading .npz archives without ever unpickling."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """Call ``write(f)`` on a temporary file beside ``path``, then rename it over ``path``.

    A failure leaves no partial file and the old file (if any) untouched. The file gets the
    ordinary permissions a new file would (mkstemp alone would make it private).
    """
    out = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=out.name + ".", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return out


def read_npz(path: str | os.PathLike, error: type[Exception] = ValueError,
             name: str | None = None) -> dict[str, np.ndarray]:
    """Every array of the .npz archive at ``path`` (never unpickles), or ``error(message)``.

    The message names the file and the problem: missing, a folder, not an .npz archive (corrupt,
    or a pickle), a single .npy array, an object array (needs pickle), a corrupt or truncated
    member; it starts with ``name`` (how the caller names the file), by default the path.
    Checking names, shapes and dtypes is the caller's job.
    """
    path = Path(path)
    label = str(path) if name is None else name
    if not path.exists():
        raise error(f"{label}: file not found")
    if path.is_dir():
        raise error(f"{label}: is a folder, not an .npz file")
    try:
        npz = np.load(path, allow_pickle=False)
    except ValueError as exc:  # numpy falls back to "pickle" for anything not npy/npz
        raise error(f"{label}: not an .npz archive (corrupt, or a pickle file, which is refused)") from exc
    except Exception as exc:  # BadZipFile, EOFError, OSError, ...
        raise error(f"{label}: corrupt or truncated .npz, cannot read it "
                    f"({type(exc).__name__}: {exc})") from exc
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise error(f"{label}: is a single .npy array, not an .npz archive of named arrays")
    arrays: dict[str, np.ndarray] = {}
    with npz:
        for member in npz.files:
            try:
                arrays[member] = npz[member]
            except ValueError as exc:
                raise error(
                    f"{label}: array '{member}' is an object array that needs pickle, which is refused "
                    "(re-save the file with plain numeric/string arrays)"
                ) from exc
            except Exception as exc:  # truncated member, bad CRC, zlib.error, ...
                raise error(
                    f"{label}: corrupt or truncated .npz, cannot read array '{member}' "
                    f"({type(exc).__name__}: {exc})"
                ) from exc
    return arrays
