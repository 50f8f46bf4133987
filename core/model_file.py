"""Save and load an exported Audio2Gestures model (format_version 2; 1 is read). numpy only, no pickle.

A model is two files side by side (docs/DESIGN.md, "The model file"):

``<name>.json``::

    {"format": "audio2gestures-model", "format_version": 2,
     "config": {...ModelConfig fields...}, "arrays": "<name>.npz", "metadata": {...}}

``<name>.npz`` (``np.savez``, float32, read with ``allow_pickle=False``): every network
parameter under its torch ``state_dict`` name (see ``expected_shapes``), plus
``feature_mean (n_mels,)``, ``feature_std (n_mels,)`` and ``code_mean (N, specific_dim)``,
``code_std (N, specific_dim)`` (per training clip: mean/std over time of I_M), and (version 2)
the code priors' arrays ``prior_*`` (core/prior.py; a file has the arrays of the priors it was
exported with, and its config's ``code_prior`` names the default).

Versions: a format_version 1 file (no priors, no hands) still loads; it may lack only the
config fields added in version 2 (``V2_FIELDS``). Any other missing config field is refused,
naming it, in every version: a silent default would generate different motion.

Every problem is reported as ``ModelFileError`` whose message names the file and the problem.
``random_weights`` / ``random_model`` build random models of any config for tests (no torch).
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .config import ModelConfig
from .errors import UserError
from .files import atomic_write, read_json, read_npz
from .noise import filtered_noise
from .prior import PRIOR_ARRAYS, SEGMENT, available_priors, fit_gaussian, retrieval_arrays

FORMAT = "audio2gestures-model"
FORMAT_VERSION = 2
#: Config fields a format_version 1 file may lack (added in version 2; they take their defaults:
#: no hands, the paper's prior). Every other field must be present in every file.
V2_FIELDS = ("hands", "code_prior", "finger_gain")

#: Arrays in the npz that are not network parameters.
STAT_NAMES = ("feature_mean", "feature_std", "code_mean", "code_std")
#: The code priors' arrays (format_version 2; core/prior.py).
PRIOR_NAMES = tuple(sorted({n for names in PRIOR_ARRAYS.values() for n in names}))


class ModelFileError(UserError):
    """A model file is missing, unreadable or inconsistent; the message says which and why."""


@dataclass
class LoadedModel:
    """An exported model in memory. All arrays float32.

    weights: parameter name -> array, exactly ``expected_shapes(config)``.
    feature_mean, feature_std: ``(n_mels,)`` log-mel normalisation.
    code_mean, code_std: ``(N, specific_dim)`` per-training-clip statistics of I_M.
    prior: the code priors' arrays (``core.prior.PRIOR_ARRAYS``, names ``prior_*``); empty for
    format_version 1 files (they sample with the paper's prior only).
    """

    config: ModelConfig
    weights: dict[str, np.ndarray]
    feature_mean: np.ndarray
    feature_std: np.ndarray
    code_mean: np.ndarray
    code_std: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    prior: dict[str, np.ndarray] = field(default_factory=dict)


# ---- shapes ----------------------------------------------------------------------------------
def _block_shapes(prefix: str, c_in: int, channels, config: ModelConfig) -> dict[str, tuple]:
    k = config.kernel_size
    shapes: dict[str, tuple] = {}
    for i, c_out in enumerate(channels):
        p = f"{prefix}.blocks.{i}"
        shapes[f"{p}.conv1.weight"] = (c_out, c_in, k)
        shapes[f"{p}.conv1.bias"] = (c_out,)
        shapes[f"{p}.conv2.weight"] = (c_out, c_out, k)
        shapes[f"{p}.conv2.bias"] = (c_out,)
        if c_in != c_out:
            shapes[f"{p}.skip.weight"] = (c_out, c_in, 1)
            shapes[f"{p}.skip.bias"] = (c_out,)
        c_in = c_out
    return shapes


def _linear(name: str, c_in: int, c_out: int) -> dict[str, tuple]:
    return {f"{name}.weight": (c_out, c_in), f"{name}.bias": (c_out,)}


def expected_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Every network parameter name (torch ``state_dict`` order) -> its shape under ``config``.

    Conv weights ``(c_out, c_in, k)``, linear weights ``(out, in)`` (torch layout).
    """
    c = config
    s: dict[str, tuple[int, ...]] = {}
    s.update(_block_shapes("audio_encoder", c.n_mels, c.audio_channels, c))
    s.update(_linear("audio_encoder.fc1", c.audio_channels[-1], c.audio_head_hidden))
    s.update(_linear("audio_encoder.fc2", c.audio_head_hidden, c.shared_dim))
    s.update(_block_shapes("motion_encoder", c.motion_dim, c.motion_channels, c))
    s.update(_linear("motion_encoder.shared_head", c.motion_channels[-1], 2 * c.shared_dim))
    if c.specific_dim:
        s.update(_linear("motion_encoder.specific_head", c.motion_channels[-1], 2 * c.specific_dim))
    if c.use_mapping:
        for i in range(c.mapping_layers):
            s[f"mapping.convs.{i}.weight"] = (c.specific_dim, c.specific_dim, c.kernel_size)
            s[f"mapping.convs.{i}.bias"] = (c.specific_dim,)
        s.update(_linear("mapping.head", c.specific_dim, 2 * c.specific_dim))
    s.update(_block_shapes("decoder", c.decoder_in, c.decoder_channels, c))
    s.update(_linear("decoder.fc1", c.decoder_channels[-1], c.decoder_head_hidden))
    s.update(_linear("decoder.fc2", c.decoder_head_hidden, c.motion_dim))
    return s


# ---- random models (tests, benchmarks) -------------------------------------------------------
def random_weights(config: ModelConfig, seed: int = 0, bias_std: float = 0.1) -> dict[str, np.ndarray]:
    """Random float32 weights for ``config``: Xavier-uniform weights, N(0, bias_std) biases.

    Non-zero biases make tests sensitive to bias handling. Deterministic in ``seed``.
    """
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for name, shape in expected_shapes(config).items():
        if name.endswith(".bias"):
            out[name] = (rng.standard_normal(shape) * bias_std).astype(np.float32)
        else:
            receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
            fan_in, fan_out = shape[1] * receptive, shape[0] * receptive
            a = np.sqrt(6.0 / (fan_in + fan_out))
            out[name] = rng.uniform(-a, a, size=shape).astype(np.float32)
    return out


def random_model(config: ModelConfig | None = None, seed: int = 0, n_clips: int = 4) -> LoadedModel:
    """A ``LoadedModel`` with ``random_weights``, plausible random statistics and every code
    prior fitted to smooth random code and audio-code sequences (``random_prior_arrays``)."""
    config = config if config is not None else ModelConfig()
    rng = np.random.default_rng([seed, 1])
    d = config.specific_dim
    return LoadedModel(
        prior=random_prior_arrays(config, seed) if d else {},
        config=config,
        weights=random_weights(config, seed),
        feature_mean=(rng.standard_normal(config.n_mels) * 10 - 40).astype(np.float32),
        feature_std=rng.uniform(5, 20, config.n_mels).astype(np.float32),
        code_mean=rng.standard_normal((n_clips, d)).astype(np.float32),
        code_std=rng.uniform(0.2, 1.5, (n_clips, d)).astype(np.float32),
        metadata={"random": True, "seed": seed},
    )


def random_prior_arrays(config: ModelConfig, seed: int = 0, clips: int = 3, frames: int = 200
                        ) -> dict[str, np.ndarray]:
    """Every prior's arrays fitted to ``clips`` smooth random sequences of ``frames`` frames
    (codes with correlated channels, and audio codes), for tests and benchmarks."""
    rng = np.random.default_rng([seed, 2])
    kernel = np.hanning(15)
    kernel /= np.sqrt(np.sum(kernel * kernel))
    mix = rng.standard_normal((config.specific_dim, config.specific_dim))
    codes = [filtered_noise(rng, frames, config.specific_dim, kernel) @ mix for _ in range(clips)]
    shared = [filtered_noise(rng, frames, config.shared_dim, kernel) for _ in range(clips)]
    arrays = fit_gaussian(codes)
    arrays.update(retrieval_arrays(codes, shared))
    return {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}


# ---- validation ------------------------------------------------------------------------------
def _check_arrays(where: str, config: ModelConfig, arrays: dict[str, np.ndarray]) -> None:
    """Raise ModelFileError (prefixed with ``where``) unless ``arrays`` match ``config`` exactly."""
    shapes = expected_shapes(config)
    missing = [n for n in list(shapes) + list(STAT_NAMES) if n not in arrays]
    extra = sorted(n for n in arrays if n not in shapes and n not in STAT_NAMES and n not in PRIOR_NAMES)
    if missing:
        more = f" (and {len(missing) - 8} more)" if len(missing) > 8 else ""
        raise ModelFileError(f"{where}: missing array(s) {missing[:8]}{more}")
    if extra:
        raise ModelFileError(
            f"{where}: unexpected array(s) {extra[:8]} not in the architecture its config describes"
        )
    for name, shape in shapes.items():
        if tuple(arrays[name].shape) != shape:
            raise ModelFileError(
                f"{where}: array '{name}' has shape {tuple(arrays[name].shape)}, the config implies {shape}"
            )
    n, d = config.n_mels, config.specific_dim
    for name in ("feature_mean", "feature_std"):
        if tuple(arrays[name].shape) != (n,):
            raise ModelFileError(f"{where}: array '{name}' has shape {arrays[name].shape}, expected ({n},)")
    for name in ("code_mean", "code_std"):
        a = arrays[name]
        if a.ndim != 2 or a.shape[1] != d or a.shape[0] < 1:
            raise ModelFileError(
                f"{where}: array '{name}' has shape {a.shape}, expected (N, {d}) with N >= 1 clips"
            )
    if arrays["code_mean"].shape != arrays["code_std"].shape:
        raise ModelFileError(
            f"{where}: code_mean {arrays['code_mean'].shape} and code_std "
            f"{arrays['code_std'].shape} differ in shape"
        )
    for name, a in arrays.items():
        if not np.all(np.isfinite(a)):
            bad = int(np.size(a) - np.count_nonzero(np.isfinite(a)))
            raise ModelFileError(f"{where}: array '{name}' has {bad} non-finite value(s) (NaN or inf)")
    if np.any(arrays["feature_std"] <= 0):
        raise ModelFileError(f"{where}: feature_std must be > 0 everywhere (it divides the features)")
    if np.any(arrays["code_std"] < 0):
        raise ModelFileError(f"{where}: code_std must be >= 0")
    _check_prior_arrays(where, config, arrays)


def _check_prior_arrays(where: str, config: ModelConfig, arrays: dict[str, np.ndarray]) -> None:
    """The ``prior_*`` arrays: each prior's set complete or absent, shapes consistent, and the
    config's ``code_prior`` among the priors present."""
    d, s = config.specific_dim, config.shared_dim
    for prior, names in PRIOR_ARRAYS.items():
        own = [n for n in names if n in arrays and n != "prior_mean"]  # prior_mean is shared
        present = [n for n in names if n in arrays]
        if own and len(present) != len(names):
            raise ModelFileError(f"{where}: the {prior!r} prior is incomplete: it has {present} "
                                 f"but needs {list(names)}")
    if config.code_prior not in available_priors(arrays):
        raise ModelFileError(f"{where}: config code_prior is {config.code_prior!r} but the file has no "
                             f"arrays for it (it has {list(available_priors(arrays))})")
    want = {"prior_mean": (d,), "prior_chol": (d, d)}
    for name, shape in want.items():
        if name in arrays and tuple(arrays[name].shape) != shape:
            raise ModelFileError(f"{where}: array '{name}' has shape {arrays[name].shape}, expected {shape}")
    if "prior_kernel" in arrays:
        k = arrays["prior_kernel"]
        if k.ndim != 1 or k.size % 2 != 1:
            raise ModelFileError(f"{where}: array 'prior_kernel' must be 1-D of odd length, got {k.shape}")
    if "prior_codes" in arrays:
        codes, shared, ends = arrays["prior_codes"], arrays["prior_shared"], arrays["prior_clip_ends"]
        if codes.ndim != 2 or codes.shape[1] != d or shared.shape != (codes.shape[0], s):
            raise ModelFileError(f"{where}: 'prior_codes' {codes.shape} and 'prior_shared' {shared.shape} "
                                 f"must be (N, {d}) and (N, {s})")
        e = np.asarray(ends, dtype=np.float64)
        if (e.ndim != 1 or e.size < 1 or np.any(e != np.round(e)) or np.any(np.diff(e) < SEGMENT)
                or e[0] < SEGMENT or e[-1] != codes.shape[0]):
            raise ModelFileError(f"{where}: 'prior_clip_ends' must be increasing clip ends (each clip "
                                 f">= {SEGMENT} frames) ending at {codes.shape[0]}")


# ---- save ------------------------------------------------------------------------------------
def _paths(json_path: str | os.PathLike) -> tuple[Path, Path]:
    p = Path(json_path)
    if p.suffix.lower() == ".npz":
        return p.with_suffix(".json"), p
    if p.suffix.lower() != ".json":
        raise ModelFileError(f"{p}: a model path must end in .json (or .npz beside it)")
    return p, p.with_suffix(".npz")


def save_model(
    json_path: str | os.PathLike,
    weights: dict[str, np.ndarray],
    config: ModelConfig,
    feature_mean: np.ndarray,
    feature_std: np.ndarray,
    code_mean: np.ndarray,
    code_std: np.ndarray,
    metadata: dict[str, Any] | None = None,
    prior: dict[str, np.ndarray] | None = None,
) -> Path:
    """Write ``<name>.json`` and ``<name>.npz`` (float32) and return the json path.

    ``prior``: the code priors' arrays (``prior_*``, core/prior.py), usually from
    ``train.priors.fit_prior_arrays``.

    Everything is validated first (the same checks as ``load_model``), so a file that saves
    also loads. Files are written to a temporary name and renamed into place.
    """
    jpath, npath = _paths(json_path)
    stats = {"feature_mean": feature_mean, "feature_std": feature_std,
             "code_mean": code_mean, "code_std": code_std}
    arrays: dict[str, np.ndarray] = {}
    for k, v in [*weights.items(), *stats.items(), *(prior or {}).items()]:
        if k in arrays:
            raise ModelFileError(f"{jpath} (not written): '{k}' is a statistics name, not a parameter name")
        if k.startswith("prior_") and k not in PRIOR_NAMES:
            raise ModelFileError(f"{jpath} (not written): unknown prior array '{k}'")
        try:
            arrays[k] = np.asarray(v, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise ModelFileError(f"{jpath} (not written): array '{k}' is not numeric: {exc}") from exc
    _check_arrays(f"{jpath} (not written)", config, arrays)
    doc = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": config.to_dict(),
        "arrays": npath.name,
        "metadata": dict(metadata or {}),
    }
    try:
        text = json.dumps(doc, indent=1, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{jpath} (not written): metadata is not JSON-serialisable: {exc}") from exc
    jpath.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(npath, lambda f: np.savez(f, **arrays))
    atomic_write(jpath, lambda f: f.write(text.encode("utf-8")))
    return jpath


# ---- load ------------------------------------------------------------------------------------
def load_model(path: str | os.PathLike) -> LoadedModel:
    """Read a model from its ``.json`` (or the ``.npz`` beside it) and validate it fully.

    Raises ``ModelFileError`` for: missing json or npz, invalid JSON, wrong format or
    format_version, bad config, unreadable/truncated npz, missing/extra/mis-shaped arrays,
    non-finite values.
    """
    jpath, given_npz = _paths(path)
    if not jpath.is_file():
        raise ModelFileError(f"{jpath}: model description (.json) not found")
    # not UTF-8, nested too deep, too large, unreadable: one ModelFileError naming the file
    doc = read_json(jpath, ModelFileError)
    if not isinstance(doc, dict):
        raise ModelFileError(f"{jpath}: expected a JSON object at the top level")
    if doc.get("format") != FORMAT:
        raise ModelFileError(
            f"{jpath}: not an Audio2Gestures model file (format is {doc.get('format')!r}, "
            f"expected {FORMAT!r})"
        )
    version = doc.get("format_version")
    if version not in (1, FORMAT_VERSION) or isinstance(version, bool):
        raise ModelFileError(
            f"{jpath}: format_version {version!r} is not supported; this runtime reads "
            f"format_version 1 and {FORMAT_VERSION}"
            + (" (the file is newer: update the add-on)" if isinstance(version, int)
               and not isinstance(version, bool) and version > FORMAT_VERSION else "")
        )
    raw_config = doc.get("config")
    if isinstance(raw_config, dict):
        optional = V2_FIELDS if version == 1 else ()
        absent = [f.name for f in dataclasses.fields(ModelConfig)
                  if f.name not in raw_config and f.name not in optional]
        if absent:
            raise ModelFileError(
                f"{jpath}: config lacks field(s) {absent}; a format_version {version} file must state "
                "them (a default could generate different motion): re-export the model with train export"
            )
    try:
        config = ModelConfig.from_dict(raw_config)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{jpath}: invalid config: {exc}") from exc
    if (mismatch := config.timing_mismatch()) is not None:
        raise ModelFileError(f"{jpath}: {mismatch}: export a model trained with this runtime's timing")
    metadata = doc.get("metadata", {})
    if not isinstance(metadata, dict):
        raise ModelFileError(f"{jpath}: 'metadata' must be a JSON object")
    arrays_name = doc.get("arrays")
    if (not isinstance(arrays_name, str) or not arrays_name or Path(arrays_name).name != arrays_name
            or arrays_name in (".", "..")):
        raise ModelFileError(
            f"{jpath}: 'arrays' must be the file name of the .npz in the same folder, got {arrays_name!r}"
        )
    npath = jpath.parent / arrays_name
    if Path(path).suffix.lower() == ".npz" and npath.resolve() != given_npz.resolve():
        raise ModelFileError(
            f"{given_npz}: the model description {jpath.name} beside it names a different "
            f"arrays file {arrays_name!r}"
        )
    if not npath.is_file():
        raise ModelFileError(f"{npath}: model arrays (.npz) not found (named by {jpath.name})")
    arrays = _read_npz(npath)
    _check_arrays(str(npath), config, arrays)
    stats = {k: arrays.pop(k) for k in STAT_NAMES}
    prior = {k: arrays.pop(k) for k in PRIOR_NAMES if k in arrays}
    return LoadedModel(config=config, weights=arrays, metadata=metadata, path=jpath, prior=prior, **stats)


def _read_npz(npath: Path) -> dict[str, np.ndarray]:
    """All arrays of ``npath`` as float32, or ModelFileError (never unpickles)."""
    arrays = read_npz(npath, ModelFileError)
    for name, a in arrays.items():
        if a.dtype.kind not in "fiu":
            raise ModelFileError(f"{npath}: array '{name}' has dtype {a.dtype}, expected float32")
        arrays[name] = a.astype(np.float32, copy=False)
    return arrays
