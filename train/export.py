"""Export a trained torch ``Audio2Gestures`` to the numpy model file (core/model_file.py).

``export_run`` adds the per-clip statistics of the motion-specific code I_M over the training
crops (``code_statistics``); ``export_checkpoint`` exports a training checkpoint (e.g. of an
interrupted run). ``python -m train export`` calls it.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.config import ModelConfig
from core.model_file import LoadedModel, load_model, save_model
from core.network import Network
from core.prior import SEGMENT
from train.checkpoint import load_checkpoint, model_from_checkpoint
from train.config import TrainConfig
from train.data import (
    FeatureStats,
    Recordings,
    TrainingWindows,
    batch_crops,
    find_pairs,
    mirror_motion,
    recordings_metadata,
    tile_crops,
)
from train.model import Audio2Gestures
from train.priors import fit_finger_gain, fit_prior_arrays

MODEL_NAME = "model.json"  # the model file a training run exports into its out_dir
CODE_STATS_MAX_CLIPS = 4096  # training crops whose I_M statistics go into the model file
#: Training frames the export fits on (code statistics, code priors, finger gain): windows
#: spread over every recording (``train.data.TrainingWindows``), so export time, its memory and
#: the retrieval library in the model file stay bounded however large the corpus (10 minutes).
FIT_MAX_FRAMES = 18_000
#: Frames per window of that bound: three of the retrieval prior's 150-frame segments, so each
#: window offers a run of segment starts (core.prior.SEGMENT).
FIT_WINDOW = 450
#: The code prior exported models sample with by default: chosen by the numbers in
#: models/MODEL_CARD.md (audio-matched retrieval: window statistics closest to real motion,
#: arm movement near the mocap's, no more jitter than the mocap, follows the speech).
DEFAULT_PRIOR = "retrieval"


def export_model(
    model: Audio2Gestures,
    json_path: str | os.PathLike,
    feature_mean,
    feature_std,
    code_mean,
    code_std,
    metadata: dict[str, Any] | None = None,
    prior: dict[str, np.ndarray] | None = None,
    config: ModelConfig | None = None,
) -> Path:
    """Write ``<name>.json`` + ``<name>.npz`` for ``model``; returns the json path.

    prior: the code priors' arrays (``train.priors.fit_prior_arrays``). config: the config to
    write (default ``model.config``); its ``code_prior`` must be "paper" or among ``prior``.

    feature_mean, feature_std: ``(n_mels,)`` log-mel normalisation of the training set.
    code_mean, code_std: ``(N, specific_dim)`` per training clip, mean/std over time of I_M.
    Arrays may be numpy or torch tensors. Parameters are stored under their ``state_dict``
    names as float32; buffers (none today) are not exported.
    """
    return save_model(
        json_path,
        _weights(model),
        config or model.config,
        _np(feature_mean),
        _np(feature_std),
        _np(code_mean),
        _np(code_std),
        metadata,
        prior,
    )


def _weights(model: Audio2Gestures) -> dict[str, np.ndarray]:
    """Parameters by ``state_dict`` name, float32 numpy."""
    return {name: p.detach().cpu().float().numpy().copy() for name, p in model.named_parameters()}


def _np(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float32)


@torch.no_grad()
def code_statistics(model: Audio2Gestures, recordings, stats: FeatureStats, config: TrainConfig,
                    device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    """Per training crop (non-overlapping ``crop_frames`` tiles of the training part, each also
    mirrored), the per-channel mean and std over time of I_M (posterior mean):
    ``code_mean``, ``code_std`` of shape ``(N, specific_dim)``."""
    crops = tile_crops(recordings, stats, config.crop_frames, config.val_fraction, "train",
                       max_crops=CODE_STATS_MAX_CLIPS // 2)
    crops += [(mirror_motion(m), f) for m, f in crops]
    if not crops:
        raise ValueError("no training crops for the code statistics")
    if model.config.specific_dim == 0:  # one-to-one variants: no motion-specific code
        empty = np.zeros((len(crops), 0), dtype=np.float32)
        return empty, empty.copy()
    means, stds = [], []
    for motion, _ in batch_crops(crops, config.batch_size):
        i_mu = model.motion_encoder(motion.to(device))[2].float()
        means.append(i_mu.mean(1).cpu())
        stds.append(i_mu.std(1).cpu() if i_mu.shape[1] > 1 else torch.zeros_like(means[-1]))
    return torch.cat(means).numpy(), torch.cat(stds).numpy()


def export_run(model: Audio2Gestures, config: TrainConfig, stats: FeatureStats, recordings, device,
               path: Path, steps: int, extra: dict | None = None, code_prior: str = DEFAULT_PRIOR) -> Path:
    """Export ``model`` (trained for ``steps``) with its feature statistics, the per-clip I_M
    statistics of the training crops of ``recordings`` and every code prior fitted to the
    training parts of ``recordings`` (``train.priors``); ``code_prior`` is the default prior
    written into the config ("paper" for models without a motion-specific code), and the finger
    gain fitted there (``train.priors.fit_finger_gain``) too."""
    recordings = TrainingWindows(recordings, config.val_fraction, FIT_MAX_FRAMES, FIT_WINDOW)
    code_mean, code_std = code_statistics(model, recordings, stats, config, device)
    if model.config.specific_dim == 0:
        code_prior = "paper"
    model_config = dataclasses.replace(model.config, code_prior=code_prior)
    loaded = LoadedModel(config=model_config, weights=_weights(model), feature_mean=stats.mean,
                         feature_std=stats.std, code_mean=code_mean, code_std=code_std)
    prior = fit_prior_arrays(Network(loaded), recordings, stats, config.val_fraction)
    with_prior = Network(dataclasses.replace(loaded, prior=prior))  # the gain is measured on sampled motion
    model_config = dataclasses.replace(
        model_config, finger_gain=fit_finger_gain(with_prior, recordings, stats, config.val_fraction))
    metadata = {
        **library_speakers(recordings, prior),
        "variant": config.variant,
        "steps": int(steps),
        "position_unit": config.position_unit,
        "data_dir": os.path.basename(os.path.normpath(config.data_dir)),
        "code_stats_clips": int(code_mean.shape[0]),
        "fit_frames": int(sum(b - a for spans in recordings.spans() for a, b in spans)),
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "train_config": dataclasses.asdict(config),
        **(extra or {}),
    }
    return export_model(model, path, stats.mean, stats.std, code_mean, code_std, metadata, prior,
                        model_config)


def library_speakers(windows, prior: dict) -> dict:
    """Speakers as styles (core/speakers.py): for a retrieval library drawn from two or more
    speakers, ``prior_clip_speakers`` (each clip's speaker, in the order
    ``core.prior.retrieval_arrays`` keeps the windows: those of a segment or more) and
    ``default_speaker`` (the one with the most library frames); {} otherwise."""
    if "prior_clip_ends" not in prior:
        return {}
    clips = [(w.speaker, w.n_frames) for w in windows if w.n_frames >= SEGMENT]
    if len(clips) != len(prior["prior_clip_ends"]):
        raise ValueError(f"{len(clips)} library windows for {len(prior['prior_clip_ends'])} retrieval clips")
    frames: dict[str, int] = {}
    for speaker, n in clips:
        frames[speaker] = frames.get(speaker, 0) + n
    if len(frames) < 2:
        return {}
    return {"prior_clip_speakers": [s for s, _ in clips], "default_speaker": max(frames, key=frames.get)}


def export_checkpoint(checkpoint, data_dir, path, output_smoothing: int | None = None,
                      code_prior: str = DEFAULT_PRIOR) -> Path:
    """Export a training checkpoint (e.g. of an interrupted run) as a model file; the code
    statistics and priors are fitted on the training part of ``data_dir``. ``output_smoothing``
    sets the inference-time low-pass of the decoder output (ModelConfig.output_smoothing);
    ``code_prior`` the default code prior (core/prior.py)."""
    state = load_checkpoint(checkpoint)
    model, config, stats = model_from_checkpoint(state)
    if output_smoothing is not None:
        model.config = dataclasses.replace(model.config, output_smoothing=int(output_smoothing))
    config = dataclasses.replace(config, data_dir=str(data_dir))
    pairs = find_pairs(data_dir, config.speakers, config.additional, bone_map=config.bone_map)
    recordings = Recordings(pairs, hands=config.hands)
    extra = {"checkpoint": os.path.basename(str(checkpoint)), **recordings_metadata(pairs)}
    return export_run(model, config, stats, recordings, torch.device("cpu"), Path(path), int(state["step"]),
                      extra, code_prior)


def reexport_model_file(source, data_dir, path, code_prior: str = DEFAULT_PRIOR,
                        output_smoothing: int | None = None) -> Path:
    """Re-export a model file (e.g. format_version 1, which has no code priors) as the current
    format: the same weights and statistics, with every code prior fitted on the training part
    of ``data_dir`` and ``code_prior`` as its default."""
    loaded = load_model(source)
    train_cfg = loaded.metadata.get("train_config", {})
    config = TrainConfig.from_dict({**train_cfg, "data_dir": str(data_dir)}) if train_cfg else \
        TrainConfig(data_dir=str(data_dir))
    pairs = find_pairs(data_dir, config.speakers, config.additional, bone_map=config.bone_map)
    recordings = TrainingWindows(Recordings(pairs, hands=loaded.config.hands), config.val_fraction,
                                 FIT_MAX_FRAMES, FIT_WINDOW)
    stats = FeatureStats(loaded.feature_mean, loaded.feature_std)
    prior = fit_prior_arrays(Network(loaded), recordings, stats, config.val_fraction)
    changes = {"code_prior": code_prior if loaded.config.specific_dim else "paper", "finger_gain": 1.0}
    unscaled = dataclasses.replace(loaded, config=dataclasses.replace(loaded.config, **changes), prior=prior)
    changes["finger_gain"] = fit_finger_gain(Network(unscaled), recordings, stats, config.val_fraction)
    if output_smoothing is not None:
        changes["output_smoothing"] = int(output_smoothing)
    kept = {k: v for k, v in loaded.metadata.items() if k not in ("prior_clip_speakers", "default_speaker")}
    metadata = {**kept, **library_speakers(recordings, prior), **recordings_metadata(pairs),
                "reexported_from": os.path.basename(str(source)),
                "reexported": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}
    return save_model(path, loaded.weights, dataclasses.replace(loaded.config, **changes),
                      loaded.feature_mean, loaded.feature_std, loaded.code_mean, loaded.code_std, metadata,
                      prior)
