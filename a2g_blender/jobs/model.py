# SPDX-License-Identifier: GPL-3.0-or-later
"""Find and load the gesture model: the preferences' file, else the bundled models/*.json."""

from __future__ import annotations

import os
from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"  # the add-on's models/
NO_MODEL = "No gesture model found: set Model File in the add-on preferences"

_cache: dict = {}


def bundled_model() -> Path | None:
    """The first models/*.json shipped inside the add-on, or None."""
    found = sorted(MODELS_DIR.glob("*.json")) if MODELS_DIR.is_dir() else []
    return found[0] if found else None


def model_path(context=None) -> Path | None:
    """The model file to use: the preferences' path when set, else the bundled one."""
    import bpy

    from ..ui import preferences

    prefs = preferences.get(context)
    if prefs is not None and prefs.model_path.strip():
        return Path(bpy.path.abspath(prefs.model_path.strip()))
    return bundled_model()


def chosen_path(context=None) -> Path:
    """:func:`model_path`, or a ``UserError`` saying how to choose a model when there is none."""
    from ..core.errors import UserError

    path = model_path(context)
    if path is None:
        raise UserError(NO_MODEL)
    return path


def load(path: Path):
    """The model at ``path`` as a ready ``core.network.Network``, cached while its files do
    not change. Raises ``core.model_file.ModelFileError`` ("Cannot load the gesture model: ...").
    """
    from ..core.errors import about
    from ..core.model_file import load_model
    from ..core.network import Network

    path = Path(path)
    key = str(path.resolve())
    stamp = tuple(_mtime(p) for p in (path, path.with_suffix(".npz")))
    hit = _cache.get(key)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    with about("Cannot load the gesture model"):  # every check of the model file, named once
        net = Network(load_model(path))
    _cache.clear()  # keep one model in memory
    _cache[key] = (stamp, net)
    return net


def _mtime(path: Path):
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


_speakers_cache: dict = {}


def speakers(context=None) -> tuple[tuple[str, ...], str | None]:
    """``(speakers, default speaker)`` of the model Generate would use (core/speakers.py), read
    from its .json alone (cheap enough for drawing the panel); ``((), None)`` for a model with
    one speaker, and when there is no readable model (Generate then says why)."""
    from ..core.errors import UserError
    from ..core.files import read_json
    from ..core.speakers import default_speaker, model_speakers

    path = model_path(context)
    if path is None:
        return (), None
    key, stamp = str(path), _mtime(path)
    hit = _speakers_cache.get(key)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    try:
        meta = read_json(path, UserError).get("metadata") or {}
        found = (model_speakers(meta), default_speaker(meta)) if isinstance(meta, dict) else ((), None)
    except (UserError, AttributeError, TypeError):
        found = (), None
    if len(found[0]) < 2:
        found = (), None
    _speakers_cache.clear()
    _speakers_cache[key] = (stamp, found)
    return found
