"""Evaluate models on the validation split: a markdown table, a JSON file and PNG plots.

Every model is run through the numpy runtime that ships (``core.generate``): an exported model
file (``.json``), a run folder (its ``model.json``, else its ``ckpt.pt``) or a training
checkpoint (``.pt``, exported on the fly with the code statistics of the data's training
part). Each model generates ``n_samples`` motions (seeds ``seed .. seed + n_samples - 1``) for
the validation tail of every recording (features of the whole recording, cropped, exactly as
in training); positions come from ``core.fk`` on the core rest skeleton, in centimetres.

Columns (metric definitions and settings in ``train/metrics.py``):

- L1 (cm), paper Eq. 13, and PCK at 0.2 m, Eq. 14: average over the samples, best in
  parentheses (the paper's "average (best)" over 20 runs); each sample's value is the
  frame-weighted mean over the validation segments.
- Diversity (cm), Eq. 15, 50-frame clips within each segment; Multimodality (cm), Eq. 16, over
  the samples ("-" for one-to-one models: they are deterministic).
- FGD on raw pose windows (cm^2; 32-frame windows, stride 8, every 4th frame kept). The
  ground-truth row gives FGD(training-part motion, validation motion): the floor set by
  natural variation between two sets of real motion.
- BC (EMAGE's beat consistency) against the segment's own audio, and against another
  segment's audio (a control: a motion that follows its speech scores higher with its own).
- Jerk (m/s^3, jitter) and wrist speed (m/s, arm motion amount).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.features import FPS, SAMPLE_RATE, features_for_motion
from core.fk import forward_kinematics
from core.generate import generate
from core.model_file import load_model
from core.network import Network
from core.prior import PRIORS, available_priors
from core.rotations import geodesic_angle
from core.skeleton import BODY_PARENTS, NUM_BODY_JOINTS, body_rest_offsets
from train import metrics
from train.checkpoint import CHECKPOINT_NAME
from train.config import TrainConfig
from train.data import (
    BEAT2_SPLIT,
    beat2_root,
    find_pairs,
    find_unpaired_audio,
    load_recording,
    motion_to_rotations,
    read_audio,
)
from train.export import MODEL_NAME, export_checkpoint
from train.fit import LOG_NAME, read_log
from train.honest import HeldOutData, held_out_columns, real_bc
from train.honest import table as held_out_table
from train.plots import learning_curves, speed_traces

CM = 100.0  # metres -> centimetres
PCK_THRESHOLD_CM = metrics.PCK_THRESHOLD_M * CM

LABELS = {
    "full": "Audio2Gestures (full)",
    "bicycle": "+ bicycle (no diversity loss)",
    "mapping": "+ mapping net",
    "split": "+ split",
    "baseline": "baseline (no split, no mapping)",
    "regression": "regression (S2G without GAN)",
}


def positions_cm(rotations: np.ndarray) -> np.ndarray:
    """Local rotations ``(..., J, 3, 3)`` (J >= 22: the body joints first) -> body joint positions
    ``(..., 22, 3)`` in cm."""
    body = rotations[..., :NUM_BODY_JOINTS, :, :]
    return forward_kinematics(body, body_rest_offsets(), BODY_PARENTS)[0] * CM


def finger_deviation_deg(rotations: np.ndarray) -> float:
    """How much the fingers move (``metrics.rotation_spread_deg`` of the 30 finger joints);
    ``rotations (T, 52, 3, 3)`` in model order; 0 for ``(T, 22, 3, 3)`` (a model without hands
    leaves the fingers still)."""
    if rotations.shape[-3] <= NUM_BODY_JOINTS:
        return 0.0
    return metrics.rotation_spread_deg(rotations[:, NUM_BODY_JOINTS:])


def finger_speed_deg(rotations: np.ndarray) -> float:
    """Mean angular speed (degrees/s) of the finger joints (0 without hands)."""
    if rotations.shape[-3] <= NUM_BODY_JOINTS or len(rotations) < 2:
        return 0.0
    fingers = rotations[:, NUM_BODY_JOINTS:].astype(np.float64)
    return float(np.degrees(geodesic_angle(fingers[1:], fingers[:-1])).mean() * FPS)


# ---- data ---------------------------------------------------------------------------------------
@dataclass
class Segment:
    """The validation tail of one recording."""

    name: str
    features: np.ndarray  # (T, 64) raw log-mel
    positions: np.ndarray  # (T, 22, 3) ground truth, cm
    onsets: np.ndarray  # audio onset times (s) from the segment's start

    @property
    def n_frames(self) -> int:
        return self.features.shape[0]

    @property
    def duration(self) -> float:
        return self.n_frames / FPS


@dataclass
class EvalData:
    segments: list[Segment]
    train_positions: list[np.ndarray]  # training parts, cm (FGD reference, BC speed normaliser)
    mean_speed: np.ndarray  # (22,) mean joint speed over the training parts (BC normaliser)
    takes: list[np.ndarray]  # whole recordings' body positions, cm (window-statistics reference)
    take_rotations: list[np.ndarray]  # whole recordings' local rotations (T, 52, 3, 3): body + fingers
    take_features: list[np.ndarray]  # whole recordings' log-mel (the other-speech control)
    unseen: list[tuple[str, np.ndarray]]  # (name, log-mel) of speech without motion, else []
    held_out: HeldOutData  # train/honest.py's protocol


#: Published BEAT2 layout: training recordings (evenly spread over the split's train rows) that
#: give the FGD reference and the BC speed normaliser; bounded so evaluation memory does not
#: grow with the corpus.
REFERENCE_RECORDINGS = 16
#: At most this many held-out recordings are evaluated, spread evenly over them (sorted by
#: name): evaluation memory and time stay bounded however large the corpus.
EVAL_MAX_RECORDINGS = 64


def spread(items: list, count: int) -> list:
    """At most ``count`` of ``items``, evenly spaced (all of them when there are fewer)."""
    if len(items) <= count:
        return list(items)
    return [items[int(i)] for i in np.linspace(0, len(items) - 1, count).round()]


def load_eval_data(data_dir, val_fraction: float, speakers: str | None = None) -> EvalData:
    """The held-out speech and motion of ``data_dir``: a flat folder's validation tails, or the
    ``test`` rows of BEAT2 as published (whole recordings; the training reference and further
    real takes then come from ``REFERENCE_RECORDINGS`` of its ``train`` rows), of ``speakers``;
    at most ``EVAL_MAX_RECORDINGS`` of them, spread evenly."""
    segments, train_positions, takes, take_rotations, take_features = [], [], [], [], []
    recordings, unseen_audio = [], []
    published = beat2_root(data_dir) is not None
    for pair in spread(find_pairs(data_dir, speakers, rows="test"), EVAL_MAX_RECORDINGS):
        rec = load_recording(pair, keep_audio=True, hands=True)
        recordings.append(rec)
        n_train = rec.n_train(val_fraction)
        rotations = motion_to_rotations(rec.motion)
        positions = positions_cm(rotations)
        takes.append(positions)
        take_rotations.append(rotations.astype(np.float32))
        take_features.append(rec.features)
        a = round(n_train * SAMPLE_RATE / FPS)
        b = round(rec.n_frames * SAMPLE_RATE / FPS)
        onsets = metrics.audio_onsets(rec.audio[a:b], SAMPLE_RATE)
        segments.append(Segment(rec.name, rec.features[n_train:], positions[n_train:], onsets))
        if n_train:
            train_positions.append(positions[:n_train])
    if published:
        train = [p for p in find_pairs(data_dir, speakers) if p.role == "train"]
        for pair in spread(train, REFERENCE_RECORDINGS):  # also real takes for the window statistics
            rec = load_recording(pair, hands=True)
            rotations = motion_to_rotations(rec.motion)
            train_positions.append(positions_cm(rotations))
            takes.append(train_positions[-1])
            take_rotations.append(rotations.astype(np.float32))
            take_features.append(rec.features)
    speed = np.concatenate([metrics.joint_speed(p, FPS) for p in train_positions if len(p) > 1])
    for p in find_unpaired_audio(data_dir):
        audio = read_audio(p)
        unseen_audio.append((p.stem, features_for_motion(audio), audio))
    unseen = [(name, feats) for name, feats, _ in unseen_audio]
    held_out = HeldOutData(recordings, takes[:len(recordings)], unseen_audio, val_fraction,
                           reference=takes[len(recordings):])
    return EvalData(segments, train_positions, speed.mean(0), takes, take_rotations, take_features, unseen,
                    held_out)


# ---- models -------------------------------------------------------------------------------------
def resolve_model(source, data_dir, work_dir: Path) -> Path:
    """The model file (.json) for ``source``: a model file, a run folder or a checkpoint."""
    path = Path(source)
    if path.is_dir():
        if (path / MODEL_NAME).is_file():
            return path / MODEL_NAME
        path = path / CHECKPOINT_NAME
    if path.suffix == ".json" and path.is_file():
        return path
    if path.suffix == ".pt" and path.is_file():
        name = path.parent.name if path.name == CHECKPOINT_NAME else path.stem
        return export_checkpoint(path, data_dir, work_dir / "models" / f"{name}.json")
    raise FileNotFoundError(f"{source}: not a model file (.json), run folder or checkpoint (.pt)")


def _bc(positions: np.ndarray, onsets: np.ndarray, duration: float, mean_speed: np.ndarray) -> float:
    beats = metrics.motion_beats(positions, FPS, mean_speed=mean_speed)  # cm and cm/s: the ratio counts
    try:
        return metrics.beat_consistency(onsets, beats, duration)
    except ValueError:  # no onsets left after masking (segment too short)
        return math.nan


def _weighted_mean(values, weights: np.ndarray) -> float:
    """Frame-weighted mean over segments, ignoring NaN (a segment too short for the metric)."""
    v = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(v)
    return float(np.sum(v[ok] * weights[ok]) / np.sum(weights[ok])) if ok.any() else math.nan


def _diversity(positions: np.ndarray) -> float:
    if len(positions) < 2 * metrics.DIVERSITY_CLIP_FRAMES:
        return math.nan
    return metrics.diversity(positions)


def motion_columns(motions: Sequence[np.ndarray], data: EvalData) -> dict[str, float]:
    """Columns that need no ground truth, for one motion (cm) per segment."""
    segs = data.segments
    w = np.array([s.n_frames for s in segs], dtype=np.float64)
    own = [_bc(m, s.onsets, s.duration, data.mean_speed) for m, s in zip(motions, segs, strict=True)]
    other = [segs[(i + 1) % len(segs)] for i in range(len(segs))]
    mismatched = [_bc(m[: o.n_frames], o.onsets, min(s.duration, o.duration), data.mean_speed)
                  if len(segs) > 1 else math.nan for m, s, o in zip(motions, segs, other, strict=True)]
    return {
        "diversity": _weighted_mean([_diversity(m) for m in motions], w),
        "bc": _weighted_mean(own, w),
        "bc_mismatched": _weighted_mean(mismatched, w),
        "jerk": _weighted_mean([metrics.mean_jerk(m / CM, FPS) if len(m) >= 4 else math.nan
                                for m in motions], w),
        "wrist_speed": _weighted_mean([metrics.mean_speed(m / CM, FPS) for m in motions], w),
    }


def evaluate_model(model_path: Path, data: EvalData, n_samples: int, seed: int,
                   prior: str | None = None) -> dict:
    """All columns for one model file sampled with ``prior`` (None: its default). A run is one
    sample (seed) for every segment; L1, PCK and Diversity are averaged over runs, with the best
    run's value beside them. The ``unseen`` columns come from ``unseen_columns``."""
    loaded = load_model(model_path)
    net = Network(loaded)
    segs = data.segments
    w = np.array([s.n_frames for s in segs], dtype=np.float64)
    runs = [[positions_cm(generate(net, s.features, seed + i, prior=prior)) for s in segs]
            for i in range(n_samples)]
    l1 = [_weighted_mean([metrics.l1_error(p, s.positions) for p, s in zip(run, segs, strict=True)], w)
          for run in runs]
    pck = [_weighted_mean([metrics.pck(p, s.positions, PCK_THRESHOLD_CM)
                           for p, s in zip(run, segs, strict=True)], w) for run in runs]
    columns = [motion_columns(run, data) for run in runs]
    one_to_one = loaded.config.specific_dim == 0  # deterministic: multimodality is undefined
    mm = math.nan
    if not one_to_one and n_samples > 1:
        per_segment = [np.stack([run[k] for run in runs]) for k in range(len(segs))]
        mm = _weighted_mean([metrics.multimodality(samples) for samples in per_segment], w)
    result = {
        "model": str(model_path),
        "prior": (prior or loaded.config.code_prior) if loaded.config.specific_dim else None,
        "hands": loaded.config.hands,
        "variant": loaded.metadata.get("variant", "?"),
        "steps": loaded.metadata.get("steps"),
        "l1": float(np.mean(l1)), "l1_best": float(np.min(l1)),
        "pck": float(np.mean(pck)), "pck_best": float(np.max(pck)),
        "multimodality": mm,
        "fgd": metrics.fgd([s.positions for s in segs], [p for run in runs for p in run]),
        "one_to_one": one_to_one,
        "first_run": runs[0],
    }
    for name in columns[0]:
        values = np.array([c[name] for c in columns])
        result[name] = float(np.nanmean(values)) if np.isfinite(values).any() else math.nan
    diversity = np.array([c["diversity"] for c in columns])
    result["diversity_best"] = float(np.nanmax(diversity)) if np.isfinite(diversity).any() else math.nan
    result["unseen"] = unseen_columns(net, data, seed, prior)
    return result


def unseen_columns(net: Network, data: EvalData, seed: int, prior: str | None,
                   intensity: float = 1.0) -> dict[str, float]:
    """Columns on speech the model never heard (the data folder's audio without motion; the
    validation tails' audio when there is none), against the whole real recordings:

    - ``window_ratio``: ``metrics.window_distance_ratio`` of seeds ``seed`` and ``seed + 1``
      (1 = as close to the real takes as they are to each other);
    - ``arm_movement``: mean wrist speed as a fraction of the mocap's; ``jerk_ratio``: mean jerk
      as a fraction of the mocap's (above 1: more jitter than real motion);
    - ``seed_l1``: L1 (cm, Eq. 13) between the two seeds; ``audio_ratio``: L1 between the same
      seed on this speech and on other speech (a recording's audio, same length), divided by
      ``seed_l1`` (how much the motion follows the speech, relative to how much the seed decides);
    - ``finger_deviation`` (degrees from the fingers' mean pose) and ``finger_speed`` (deg/s).
    """
    speech = [f for _, f in data.unseen] or [s.features for s in data.segments]
    other = max(data.take_features, key=len)
    pos, rots, seed_l1, audio_l1 = [], [], [], []
    for feats in speech:
        n = min(len(feats), len(other))
        a, b = (generate(net, feats, seed + k, prior=prior, intensity=intensity) for k in (0, 1))
        o = generate(net, other[:n], seed, prior=prior, intensity=intensity)
        pa, pb, po = positions_cm(a), positions_cm(b), positions_cm(o)
        pos += [pa, pb]
        rots += [a, b]
        seed_l1.append(metrics.l1_error(pa, pb))
        audio_l1.append(metrics.l1_error(pa[:n], po))
    real_speed = np.mean([metrics.mean_speed(t / CM, FPS) for t in data.takes])
    real_jerk = np.mean([metrics.mean_jerk(t / CM, FPS) for t in data.takes])
    seed_d = float(np.mean(seed_l1))
    return {
        "window_ratio": metrics.window_distance_ratio(pos, data.takes),
        "arm_movement": float(np.mean([metrics.mean_speed(p / CM, FPS) for p in pos]) / real_speed),
        "jerk_ratio": float(np.mean([metrics.mean_jerk(p / CM, FPS) for p in pos]) / real_jerk),
        "seed_l1": seed_d,
        "audio_ratio": float(np.mean(audio_l1)) / seed_d if seed_d > 0 else math.nan,
        "finger_deviation": float(np.mean([finger_deviation_deg(r) for r in rots])),
        "finger_speed": float(np.mean([finger_speed_deg(r) for r in rots])),
    }


def unseen_ground_truth(data: EvalData) -> dict[str, float]:
    """The real recordings' own figures for the unseen-speech table, and a static mean pose's
    window ratio (the number that "standing still" scores)."""
    static = np.repeat(np.concatenate(data.takes).mean(0, keepdims=True), 900, axis=0)
    return {
        "static_window_ratio": metrics.window_distance_ratio(static, data.takes),
        "wrist_speed": float(np.mean([metrics.mean_speed(t / CM, FPS) for t in data.takes])),
        "jerk": float(np.mean([metrics.mean_jerk(t / CM, FPS) for t in data.takes])),
        "finger_deviation": float(np.mean([finger_deviation_deg(r) for r in data.take_rotations])),
        "finger_speed": float(np.mean([finger_speed_deg(r) for r in data.take_rotations])),
    }


def evaluate_ground_truth(data: EvalData) -> dict:
    result = motion_columns([s.positions for s in data.segments], data)
    result["fgd"] = metrics.fgd(data.train_positions, [s.positions for s in data.segments])
    return result


# ---- report -------------------------------------------------------------------------------------
def _num(value, digits: int = 2) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def markdown_table(rows: list[tuple[str, dict]], ground_truth: dict) -> str:
    header = ("| model | L1 (cm) ↓ | PCK@0.2 m ↑ | Diversity (cm) | Multimodality (cm) | FGD ↓ "
              "| BC ↑ | BC, other audio | Jerk (m/s³) | Wrist speed (m/s) |")
    lines = [header, "|" + "---|" * 10]
    for label, r in rows:
        cells = [label, f"{_num(r['l1'])} ({_num(r['l1_best'])})",
                 f"{_num(r['pck'], 3)} ({_num(r['pck_best'], 3)})",
                 f"{_num(r['diversity'])} ({_num(r['diversity_best'])})", _num(r["multimodality"]),
                 _num(r["fgd"], 1), *_motion_cells(r)]
        lines.append("| " + " | ".join(cells) + " |")
    g = ground_truth
    cells = ["ground truth", "-", "-", _num(g["diversity"]), "-", f"{_num(g['fgd'], 1)} (train vs val)",
             *_motion_cells(g)]
    lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def unseen_table(rows: list[tuple[str, dict]], truth: dict) -> str:
    """The unseen-speech table (``unseen_columns``), one row per model and prior, then the
    model's default prior at other intensities (``r["unseen_intensity"]``)."""
    header = ("| model | Window statistics (× real-vs-real) ↓ | Arm movement (× mocap) | Jerk (× mocap) "
              "| Seed difference (cm) | Other speech / other seed | Finger deviation (°) "
              "| Finger speed (°/s) |")
    lines = [header, "|" + "---|" * 8]
    for label, r in rows:
        lines.append(_unseen_row(label, r["unseen"]))
    for label, r in rows:
        for intensity, u in sorted(r.get("unseen_intensity", {}).items()):
            lines.append(_unseen_row(f"{label}, intensity {intensity:g}", u))
    lines.append(f"| static mean pose | {_num(truth['static_window_ratio'])} | 0.00 | 0.00 | - | - | - | - |")
    lines.append(f"| ground truth (the recordings) | 1.00 | 1.00 ({_num(truth['wrist_speed'], 3)} m/s) "
                 f"| 1.00 ({_num(truth['jerk'], 1)} m/s³) | - | - | {_num(truth['finger_deviation'], 1)} "
                 f"| {_num(truth['finger_speed'], 1)} |")
    return "\n".join(lines)


def _unseen_row(label: str, u: dict) -> str:
    cells = [label, _num(u["window_ratio"]), _num(u["arm_movement"]), _num(u["jerk_ratio"]),
             _num(u["seed_l1"]), _num(u["audio_ratio"]), _num(u["finger_deviation"], 1),
             _num(u["finger_speed"], 1)]
    return "| " + " | ".join(cells) + " |"


def _motion_cells(r: dict) -> list[str]:
    return [_num(r["bc"], 3), _num(r["bc_mismatched"], 3), _num(r["jerk"], 1), _num(r["wrist_speed"], 3)]


def evaluate(model, data_dir, out_dir, baselines: Sequence = (), n_samples: int = 20, seed: int = 0,
             val_fraction: float | None = None, priors: Sequence[str] | None = None,
             intensities: Sequence[float] = (0.5, 1.5), speakers: str | None = None) -> Path:
    """Evaluate ``model`` and ``baselines`` on the held-out part of ``data_dir`` (the validation
    tails of a flat folder, the ``test`` rows of BEAT2 as published, of ``speakers``: default
    the speakers ``model`` trained on), and on its
    unseen speech; write ``results.md``, ``results.json``, ``speed_onsets.png`` and
    ``curves_<run>.png`` (for sources with a training log) into ``out_dir``. ``priors``: the code
    priors to evaluate ``model`` with, a row each (default: every prior its file has; baselines
    use their default prior); ``intensities``: extra unseen-speech rows of ``model`` with its
    default prior at these intensities. Returns the path of ``results.md``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sources = [model, *baselines]
    paths = [resolve_model(s, data_dir, out) for s in sources]
    train_cfg = load_model(paths[0]).metadata.get("train_config", {})
    if val_fraction is None:
        val_fraction = float(train_cfg.get("val_fraction", TrainConfig.val_fraction))
    if speakers is None:
        speakers = train_cfg.get("speakers", "all")
    data = load_eval_data(data_dir, val_fraction, speakers)

    rows, results = [], []
    jobs = []
    for i, (source, path) in enumerate(zip(sources, paths, strict=True)):
        loaded = load_model(path)
        own = available_priors(loaded.prior)
        wanted = (list(priors) if priors else own) if i == 0 else [loaded.config.code_prior]
        for prior in wanted if loaded.config.specific_dim else [None]:
            # the model's default prior also gets the intensity rows
            jobs.append((source, path, prior, i == 0 and prior == loaded.config.code_prior))
    held_rows = []
    held_seeds = list(range(seed, seed + HELD_OUT_SEEDS))
    for source, path, prior, with_intensities in jobs:
        r = evaluate_model(path, data, n_samples, seed, prior)
        r["source_path"] = str(path)
        if source is model and loaded_first(path).config.specific_dim:
            syncs = (0.0, 1.0) if with_intensities else (0.0,)
            r["held_out"] = {s: held_out_columns(loaded_first(path), data.held_out, positions_cm, held_seeds,
                                                 prior, s) for s in syncs}
        if with_intensities:
            net = Network(load_model(path))
            r["unseen_intensity"] = {float(k): unseen_columns(net, data, seed, prior, float(k))
                                     for k in intensities if float(k) != 1.0}
        label = describe(path, LABELS.get(r["variant"], r["variant"]))
        if r["prior"] is not None:
            label = f"{label}, {r['prior']} prior"
        if any(label == existing for existing, _ in rows):
            label = f"{label} [{Path(source).name}]"
        rows.append((label, r))
        results.append(r)
        for sync, h in r.get("held_out", {}).items():
            held_rows.append((label + (f", sync {sync:g}" if sync else ""), h))
        log = _log_for(Path(source), path)
        if log is not None and not (out / f"curves_{_slug(_curve_label(label))}.png").exists():
            learning_curves(read_log(log), out / f"curves_{_slug(_curve_label(label))}.png",
                            f"{_curve_label(label)}: {log.parent}")
    gt = evaluate_ground_truth(data)

    seg = data.segments[0]
    traces = {"ground truth": _wrist_speed(seg.positions)}
    traces.update({label: _wrist_speed(r["first_run"][0]) for label, r in rows})
    speed_traces(traces, FPS, seg.onsets, out / "speed_onsets.png",
                 f"{seg.name}, validation tail: mean wrist speed (seed {seed}) and audio onsets")

    table = markdown_table(rows, gt)
    truth = unseen_ground_truth(data)
    speech = ", ".join(name for name, _ in data.unseen) or "the validation tails' audio"
    real = real_bc(data.held_out) if held_rows else None
    if held_rows:
        table += ("\n\n**Held out** (train/honest.py): against motion that neither the network nor the code "
                  "prior saw\n\n" + held_out_table(held_rows, real, held_seeds, data.held_out))
    table += (f"\n\n**Unseen speech, in-sample reference** ({speech}; seeds {seed} and {seed + 1}): compared "
              "with the whole recordings, whose training parts the network trained on and the code prior "
              "was fitted to; the held-out table above is the honest one.\n\n" + unseen_table(rows, truth))
    notes = [
        (f"Held out: the test rows of `{data_dir}` (BEAT2 {BEAT2_SPLIT}) " if beat2_root(data_dir) else
         f"Validation: the last {val_fraction:.0%} of each recording in `{data_dir}` ") +
        f"({', '.join(f'{s.name}: {s.n_frames} frames' for s in data.segments)}).",
        f"{n_samples} samples per model (seeds {seed}..{seed + n_samples - 1}); L1, PCK, Diversity: average "
        "over samples (best in parentheses). Positions from the core rest skeleton, in cm.",
        "FGD: raw pose windows of 32 frames, stride 8, every 4th frame (cm²); ground truth row: training "
        "part vs validation. BC: EMAGE settings (onsets hop 512, minima order 7 above 0.3 x mean speed, "
        "sigma 0.3 s, first/last 2 s masked); 'other audio' pairs each motion with another segment's audio.",
        "Unseen speech: window statistics = Fréchet distance of upper-body position windows (34 frames every "
        "4, every 4th frame kept) to each recording, divided by the distance between the recordings (1 = "
        "as close as another real take). Arm movement = mean wrist speed; jerk = mean joint jerk; both "
        "as a fraction of the recordings'. Seed difference = L1 between two seeds; 'other speech / other "
        "seed' = L1 between the same seed on this speech and on a recording's speech, over the seed "
        "difference. Fingers: mean angle from their mean pose over the clip, and mean angular speed.",
        "Sources: " + "; ".join(f"{label}: `{r['source_path']}`" for label, r in rows),
    ]
    text = "# Evaluation\n\n" + table + "\n\n" + "\n".join(f"- {n}" for n in notes) + "\n"
    (out / "results.md").write_text(text, encoding="utf-8")
    for r in results:
        r.pop("first_run")
    summary = {"models": dict(zip([lb for lb, _ in rows], results, strict=True)), "ground_truth": gt,
               "held_out_real_bc": real,
               "unseen_ground_truth": truth,
               "n_samples": n_samples, "val_fraction": val_fraction}
    (out / "results.json").write_text(json.dumps(_finite(summary), indent=1), encoding="utf-8")
    print(text)
    return out / "results.md"


HELD_OUT_SEEDS = 4  # seeds of the held-out protocol (train/honest.py)


def loaded_first(path: Path):
    """The model file at ``path``, loaded once per evaluation."""
    key = str(path)
    if key not in _LOADED:
        _LOADED[key] = load_model(path)
    return _LOADED[key]


_LOADED: dict[str, object] = {}


def _curve_label(label: str) -> str:
    """A row label without its prior (the learning curves are the run's, whatever the prior)."""
    for prior in PRIORS:
        label = label.removesuffix(f", {prior} prior")
    return label


def describe(model_path: Path, name: str) -> str:
    """Row label: the variant's name, training steps and the sampling options that differ from
    the paper's (smoothed noise, code-statistics loss, output low-pass)."""
    loaded = load_model(model_path)
    meta, cfg = loaded.metadata, loaded.config
    train_cfg = meta.get("train_config", {})
    extras = []
    if train_cfg.get("init_from"):
        init = Path(train_cfg["init_from"])  # a run's checkpoint (name its run) or a model file
        extras.append(f"fine-tuned from {init.stem if init.suffix == '.json' else init.parent.name}")
    if train_cfg.get("w_code_stats"):
        extras.append(f"code-stats loss {train_cfg['w_code_stats']:g}")
    if cfg.noise_smoothing:
        extras.append(f"noise σ={cfg.noise_smoothing}")
    if cfg.output_smoothing:
        extras.append(f"output low-pass σ={cfg.output_smoothing}")
    if cfg.hands:
        extras.append(f"hands, finger gain {cfg.finger_gain:.2f}")
    steps = meta.get("steps")
    head = f"{name}, {steps} steps" if steps is not None else name
    return head + (f" ({', '.join(extras)})" if extras else "")


def _wrist_speed(positions_cm_: np.ndarray) -> np.ndarray:
    speed = metrics.joint_speed(positions_cm_ / CM, FPS)
    return speed[:, list(metrics.WRISTS)].mean(1)


def _log_for(source: Path, model_path: Path) -> Path | None:
    for folder in (source if source.is_dir() else source.parent, model_path.parent):
        if (folder / LOG_NAME).is_file():
            return folder / LOG_NAME
    return None


def _slug(text: str) -> str:
    return "".join(c if c.isascii() and c.isalnum() else "_" for c in text).strip("_").lower()


def _finite(value):
    """NaN/inf -> None, recursively (strict JSON)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
