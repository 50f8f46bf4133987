"""numpy runtime of the four Audio2Gestures nets (float32), from a ``LoadedModel``.

Same maths as ``train/model.py`` (torch), parameter for parameter. The nets are fully
convolutional, so any number of frames T >= 1 runs in one call. Public arrays are time-major
``(T, C)``; internally everything is channel-major ``(C, T)``. A dilated conv is one GEMM: the k
time-shifted copies ``x[:, t + (j - (k-1)/2) * d]`` are stacked along channels (zeros beyond the
sequence ends = "same" zero padding) and multiplied by the (C_out, k * C_in) weight, so BLAS does
the work and there is no Python loop over time.

Memory stays bounded for long inputs (an hour = 108,000 frames): each net processes chunks of
``chunk_frames`` output frames, reading ``receptive_radius(net)`` extra frames ("halo") on each
side, which makes the result equal to one pass over the whole sequence (to float32 rounding).
The chunks run on the cores at once (``core.parallel``), smaller ones when that makes one a core.
"""

from __future__ import annotations

import numpy as np

from . import parallel
from .config import ModelConfig
from .model_file import LoadedModel
from .prior import make_prior
from .speakers import speaker_arrays

_F32 = np.float32
# From this many frames on, the nets run one chunk per core (when BLAS can be held to one
# thread): below it the chunks' halos cost more than the split saves.
SPLIT_FRAMES = 1024


class _Conv:
    """Conv1d(k, dilation d, 'same' zero padding) on channel-major (C_in, T) float32.

    One GEMM per call: the k shifted copies of x are stacked into (k * C_in, T) ("im2col",
    zero where a tap falls outside the sequence) and multiplied by the weight laid out as
    (C_out, k * C_in). On OpenBLAS this measured faster than k matmuls on shifted views with
    accumulation (one larger-K GEMM, no temporaries to add).
    """

    def __init__(self, weight: np.ndarray, bias: np.ndarray, dilation: int = 1) -> None:
        c_out, c_in, k = weight.shape
        self.c_in = c_in
        # column j * c_in + c  <->  weight[:, c, j]
        self.weight = np.ascontiguousarray(np.transpose(weight, (0, 2, 1)).reshape(c_out, k * c_in),
                                           dtype=_F32)
        self.offsets = [(j - (k - 1) // 2) * dilation for j in range(k)]  # input t + offset
        self.bias = np.asarray(bias, dtype=_F32).reshape(-1, 1)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        c, T = x.shape
        stacked = np.empty((len(self.offsets) * c, T), dtype=_F32)
        for j, o in enumerate(self.offsets):
            blk = stacked[j * c:(j + 1) * c]
            if o == 0:
                blk[:] = x
            elif abs(o) >= T:
                blk[:] = 0
            elif o > 0:  # blk[:, t] = x[:, t + o]
                blk[:, : T - o] = x[:, o:]
                blk[:, T - o:] = 0
            else:
                blk[:, -o:] = x[:, : T + o]
                blk[:, :-o] = 0
        out = self.weight @ stacked
        out += self.bias
        return out


class _Linear:
    """Per-frame linear layer on channel-major (C_in, T): ``W @ x + b``."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray) -> None:
        self.weight = np.ascontiguousarray(weight, dtype=_F32)
        self.bias = np.asarray(bias, dtype=_F32).reshape(-1, 1)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out = self.weight @ x
        out += self.bias
        return out


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0, out=x)


class _Block:
    """relu(relu(conv2(relu(conv1(x)))) + skip(x)) on channel-major arrays."""

    def __init__(self, w: dict[str, np.ndarray], prefix: str, dilation: int) -> None:
        self.conv1 = _Conv(w[f"{prefix}.conv1.weight"], w[f"{prefix}.conv1.bias"], dilation)
        self.conv2 = _Conv(w[f"{prefix}.conv2.weight"], w[f"{prefix}.conv2.bias"], dilation)
        skip = f"{prefix}.skip.weight"
        self.skip = _Linear(w[skip][:, :, 0], w[f"{prefix}.skip.bias"]) if skip in w else None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        h = _relu(self.conv2(_relu(self.conv1(x))))
        h += x if self.skip is None else self.skip(x)
        return _relu(h)


def _blocks(w, net: str, config: ModelConfig) -> list[_Block]:
    return [_Block(w, f"{net}.blocks.{i}", d) for i, d in enumerate(config.dilations)]


def _run(layers, x: np.ndarray) -> np.ndarray:
    for layer in layers:
        x = layer(x)
    return x


class Network:
    """The four nets of a loaded model, as numpy functions on whole sequences.

    All inputs are time-major ``(T, C)`` with T >= 1 (any float dtype, cast to float32);
    all outputs are float32 ``(T, C)``. ``chunk_frames`` bounds the frames processed at once.
    Also carries the model's statistics: ``feature_mean``/``feature_std`` ``(n_mels,)``,
    ``code_mean``/``code_std`` ``(N, specific_dim)``, and ``config``, ``metadata``.
    """

    def __init__(self, loaded: LoadedModel, chunk_frames: int = 4096) -> None:
        if chunk_frames < 1:
            raise ValueError(f"chunk_frames must be >= 1, got {chunk_frames}")
        c = self.config = loaded.config
        w = loaded.weights
        self.chunk_frames = int(chunk_frames)
        self.feature_mean = np.asarray(loaded.feature_mean, dtype=_F32)
        self.feature_std = np.asarray(loaded.feature_std, dtype=_F32)
        self.code_mean = np.asarray(loaded.code_mean, dtype=_F32)  # (N, specific_dim)
        self.code_std = np.asarray(loaded.code_std, dtype=_F32)
        self.metadata = dict(loaded.metadata)
        self.prior_arrays = dict(loaded.prior)
        self._priors: dict[str, object] = {}

        self._audio = _blocks(w, "audio_encoder", c) + [
            _Linear(w["audio_encoder.fc1.weight"], w["audio_encoder.fc1.bias"]), _relu,
            _Linear(w["audio_encoder.fc2.weight"], w["audio_encoder.fc2.bias"]),
        ]
        # Both Gaussian heads of f_M as one matmul: [s_mu, s_logvar, i_mu, i_logvar].
        heads_w = [w["motion_encoder.shared_head.weight"]]
        heads_b = [w["motion_encoder.shared_head.bias"]]
        if c.specific_dim:
            heads_w.append(w["motion_encoder.specific_head.weight"])
            heads_b.append(w["motion_encoder.specific_head.bias"])
        self._motion = _blocks(w, "motion_encoder", c) + [
            _Linear(np.concatenate(heads_w), np.concatenate(heads_b))
        ]
        self._mapping = None
        if c.use_mapping:
            self._mapping = []
            for i in range(c.mapping_layers):
                self._mapping += [_Conv(w[f"mapping.convs.{i}.weight"], w[f"mapping.convs.{i}.bias"]), _relu]
            self._mapping.append(_Linear(w["mapping.head.weight"], w["mapping.head.bias"]))
        self._decoder = _blocks(w, "decoder", c) + [
            _Linear(w["decoder.fc1.weight"], w["decoder.fc1.bias"]), _relu,
            _Linear(w["decoder.fc2.weight"], w["decoder.fc2.bias"]),
        ]

    def code_prior(self, name: str, speaker: str | None = None):
        """The sampler of the named code prior (core/prior.py), built once per network; with a
        ``speaker`` (core/speakers.py), the retrieval prior draws from that speaker's clips."""
        if name != "retrieval" or speaker is None:
            speaker = None
        key = name if speaker is None else (name, speaker)
        if key not in self._priors:
            arrays = self.prior_arrays
            if speaker is not None:
                arrays = speaker_arrays(arrays, self.metadata.get("prior_clip_speakers") or [], speaker)
            self._priors[key] = make_prior(name, arrays)
        return self._priors[key]

    # ---- plumbing ------------------------------------------------------------------------
    @staticmethod
    def _input(x, channels: int, what: str) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != channels or x.shape[0] < 1:
            raise ValueError(f"{what} must have shape (T >= 1, {channels}), got {x.shape}")
        return x.astype(_F32, copy=False)

    def _chunked(self, layers, x: np.ndarray, radius: int, out_channels: int) -> np.ndarray:
        """Run ``layers`` over time-major x (T, C) in chunks with a ``radius`` halo -> (T, C_out)."""
        T = x.shape[0]
        n = self.chunk_frames
        if parallel.blas_is_held() and T >= SPLIT_FRAMES:  # one chunk per core (core/parallel.py)
            n = min(n, -(-T // parallel.worker_count()))
        if T <= n:
            return np.ascontiguousarray(_run(layers, np.ascontiguousarray(x.T)).T)
        out = np.empty((T, out_channels), dtype=_F32)

        def chunk(s: int, e: int) -> None:
            lo, hi = max(0, s - radius), min(T, e + radius)
            y = _run(layers, np.ascontiguousarray(x[lo:hi].T))
            out[s:e] = y[:, s - lo: e - lo].T

        parallel.for_each_product_span(chunk, T, n)
        return out

    # ---- public API ----------------------------------------------------------------------
    def normalise_features(self, raw_log_mel) -> np.ndarray:
        """``(raw - feature_mean) / feature_std``: (T, n_mels) -> (T, n_mels) float32."""
        x = self._input(raw_log_mel, self.config.n_mels, "features")
        return (x - self.feature_mean) / self.feature_std

    def audio_encode(self, norm_features) -> np.ndarray:
        """f_A: normalised log-mel (T, n_mels) -> shared code S_A (T, shared_dim)."""
        c = self.config
        x = self._input(norm_features, c.n_mels, "normalised features")
        return self._chunked(self._audio, x, c.receptive_radius("audio_encoder"), c.shared_dim)

    def motion_encode(self, sixd):
        """f_M: 6D motion (T, n_joints * rot_dim) -> Gaussian codes.

        Returns ``(shared_mu, shared_logvar, specific_mu, specific_logvar)``: (T, shared_dim)
        twice, then (T, specific_dim) twice ((T, 0) when specific_dim == 0).
        """
        c = self.config
        x = self._input(sixd, c.motion_dim, "6D motion")
        y = self._chunked(self._motion, x, c.receptive_radius("motion_encoder"),
                          2 * (c.shared_dim + c.specific_dim))
        s, i = c.shared_dim, c.specific_dim
        return y[:, :s], y[:, s:2 * s], y[:, 2 * s:2 * s + i], y[:, 2 * s + i:]

    def map_noise(self, noise):
        """f_R: noise (T, specific_dim) -> ``(mu, logvar)`` of I_R, each (T, specific_dim)."""
        c = self.config
        if self._mapping is None:
            raise ValueError("this model has no mapping net (config.use_mapping is False)")
        x = self._input(noise, c.specific_dim, "noise")
        y = self._chunked(self._mapping, x, c.receptive_radius("mapping"), 2 * c.specific_dim)
        return y[:, : c.specific_dim], y[:, c.specific_dim:]

    def decode(self, shared, specific=None) -> np.ndarray:
        """g: shared (T, shared_dim) and specific (T, specific_dim) -> 6D motion (T, 132).

        ``specific`` may be None only when specific_dim == 0 (the "no split" model).
        """
        c = self.config
        s = self._input(shared, c.shared_dim, "shared code")
        if specific is None:
            if c.specific_dim:
                raise ValueError(f"decode needs a specific code (T, {c.specific_dim})")
            x = s
        else:
            i = self._input(specific, c.specific_dim, "specific code")
            if i.shape[0] != s.shape[0]:
                raise ValueError(
                    f"shared code has {s.shape[0]} frames but specific code has {i.shape[0]}"
                )
            x = np.concatenate([s, i], axis=1)
        return self._chunked(self._decoder, x, c.receptive_radius("decoder"), c.motion_dim)
