"""Files, safely: writing whole or not at all, reading .npz archives without ever unpickling,
reading JSON text files the user gave with one plain message for whatever is wrong with them
(not text, not UTF-8, nested too deep, too large)."""

from __future__ import annotations

import json
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


MAX_NPZ_BYTES = 4 * 1024 ** 3  # unpacked: a model is ~12 MB, an hour of SMPL-X motion ~70 MB


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
    unpacked = sum(info.file_size for info in npz.zip.infolist())
    if unpacked > MAX_NPZ_BYTES:  # a zip bomb, or not a file made for this: refused unread
        npz.close()
        raise error(f"{label}: its arrays unpack to {unpacked / 1e6:,.0f} MB, more than this reads "
                    f"(at most {MAX_NPZ_BYTES / 1e6:,.0f} MB): is it the right file?")
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


MAX_JSON_BYTES = 64 * 1024 * 1024  # a preset is a few kB, a model description a few hundred


def read_text(path: str | os.PathLike, error: type[Exception] = ValueError, name: str | None = None,
              limit: int = MAX_JSON_BYTES) -> str:
    """The UTF-8 text of the file at ``path`` (a byte-order mark is dropped), or
    ``error(message)``: missing, a folder, unreadable, larger than ``limit`` bytes, or not
    UTF-8 text (a binary file, another encoding). The message starts with ``name`` (how the
    caller names the file), by default the path."""
    label = str(path) if name is None else name
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > limit:
                raise error(f"{label}: the file is {size / 1e6:.1f} MB, too large for this "
                            f"(at most {limit / 1e6:.0f} MB): is it the right file?")
            data = f.read(limit + 1)
    except IsADirectoryError:
        raise error(f"{label}: is a folder, not a file") from None
    except FileNotFoundError:
        raise error(f"{label}: file not found") from None
    except OSError as exc:
        raise error(f"{label}: cannot read it ({exc.strerror or exc})") from None
    if len(data) > limit:  # grew while read (a pipe, a device)
        raise error(f"{label}: too large for this (at most {limit / 1e6:.0f} MB): is it the right file?")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(f"{label}: not a text file (byte {exc.start} is not UTF-8 text): is it the "
                    "right file? Save it as UTF-8 JSON") from None


def parse_json(text: str, error: type[Exception] = ValueError, name: str = "the file"):
    """The JSON value in ``text``, or ``error(message)`` naming ``name``: not JSON (where), or
    nested too deeply for Python's parser (RecursionError), or numbers out of range."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{name}: not valid JSON ({exc})") from None
    except RecursionError:
        raise error(f"{name}: not valid JSON for this (nested too deeply)") from None
    except (ValueError, OverflowError, MemoryError) as exc:  # e.g. a 5,000-digit integer
        raise error(f"{name}: not valid JSON for this ({type(exc).__name__}: {exc})") from None


def read_json(path: str | os.PathLike, error: type[Exception] = ValueError, name: str | None = None,
              limit: int = MAX_JSON_BYTES):
    """The JSON value of the file at ``path``: :func:`read_text` then :func:`parse_json`, every
    problem as ``error(message)`` naming the file (``name``, by default its path)."""
    label = str(path) if name is None else name
    return parse_json(read_text(path, error, label, limit), error, label)
