"""Runtime benchmark: frames per second of ``core.generate`` (features -> rotations).

Random features and random weights of the real architecture (timing does not depend on the
values). For 10 s, 60 s and 10 min of audio (30 fps) it prints:

- numpy ``generate`` (audio encoder + mapping + decoder + 6D -> matrices): seconds, frames/s;
- numpy network only (the same three nets, no rotation conversion);
- peak Python-heap memory of one ``generate`` call (tracemalloc; numpy buffers are tracked);
- where torch is installed: the same three nets in torch (``train.model``, inference mode, same
  weights, same thread count) and the numpy/torch speed ratio.

Usage: python benchmarks/bench_runtime.py [--threads 2] [--seconds 10 60 600] [--repeats 3]
       [--chunk FRAMES] [--no-torch]
Prints figures only; nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc
from pathlib import Path


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2, help="BLAS / torch threads (default 2)")
    p.add_argument("--seconds", type=float, nargs="+", default=[10, 60, 600], help="audio durations")
    p.add_argument("--repeats", type=int, default=5, help="timed runs per size (best is reported)")
    p.add_argument("--chunk", type=int, default=None, help="Network chunk_frames (default: Network's)")
    p.add_argument("--no-torch", action="store_true", help="skip the torch comparison")
    return p.parse_args()


ARGS = _parse()
# Thread counts must be fixed before numpy (and its BLAS) is imported.
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from core.config import ModelConfig  # noqa: E402
from core.generate import generate  # noqa: E402
from core.model_file import random_model  # noqa: E402
from core.network import Network  # noqa: E402


def _best(fn, repeats: int) -> float:
    fn_time = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        fn_time.append(time.perf_counter() - t)
    return min(fn_time)


def _blas_threads() -> str:
    try:
        from threadpoolctl import threadpool_info

        return ", ".join(f"{i['internal_api']}={i['num_threads']}" for i in threadpool_info())
    except Exception:  # threadpoolctl is optional
        return "unknown (threadpoolctl not installed)"


def _torch_model(loaded):
    try:
        import torch
    except ImportError:
        return None, None
    from train.model import Audio2Gestures

    torch.set_num_threads(ARGS.threads)
    model = Audio2Gestures(loaded.config).eval()
    model.load_state_dict({k: torch.from_numpy(v) for k, v in loaded.weights.items()})
    return torch, model


def main() -> None:
    config = ModelConfig()
    loaded = random_model(config, seed=0)
    net = Network(loaded) if ARGS.chunk is None else Network(loaded, chunk_frames=ARGS.chunk)
    torch, tmodel = (None, None) if ARGS.no_torch else _torch_model(loaded)
    print(f"threads: {ARGS.threads} (BLAS: {_blas_threads()}"
          + (f", torch: {torch.get_num_threads()}" if torch else ", torch: not installed/skipped") + ")")
    print(f"numpy {np.__version__}" + (f", torch {torch.__version__}" if torch else "")
          + f"; Network chunk_frames {net.chunk_frames}")

    rng = np.random.default_rng(0)
    generate(net, rng.standard_normal((300, 64)).astype(np.float32), 0)  # warm-up
    header = (f"{'audio':>8} {'frames':>7} | {'generate s':>10} {'fps':>8} | {'nets s':>7} {'fps':>8} | "
              f"{'peak MB':>7}")
    if torch:
        header += f" | {'torch s':>7} {'fps':>8} | {'numpy/torch':>11}"
    print(header)
    for seconds in ARGS.seconds:
        T = int(round(seconds * config.fps))
        feats = (rng.standard_normal((T, config.n_mels)) * 10 - 40).astype(np.float32)
        repeats = ARGS.repeats if T <= 6000 else max(1, ARGS.repeats // 2)

        noise = rng.standard_normal((T, config.specific_dim)).astype(np.float32)
        eps = rng.standard_normal((T, config.specific_dim)).astype(np.float32)

        def gen(feats=feats):
            return generate(net, feats, 1)

        def nets(feats=feats, noise=noise, eps=eps):
            shared = net.audio_encode(net.normalise_features(feats))
            mu, logvar = net.map_noise(noise)
            return net.decode(shared, mu + np.exp(0.5 * logvar) * eps)

        fns = {"gen": gen, "nets": nets}
        if torch:
            fm = torch.from_numpy(net.normalise_features(feats))[None]
            nz, ep = torch.from_numpy(noise)[None], torch.from_numpy(eps)[None]

            def torch_nets(fm=fm, nz=nz, ep=ep):
                with torch.inference_mode():
                    shared = tmodel.audio_encoder(fm)
                    mu, logvar = tmodel.mapping(nz)
                    return tmodel.decoder(shared, mu + torch.exp(0.5 * logvar) * ep)

            torch_nets()  # warm-up at this size
            fns["torch"] = torch_nets
        # Interleaved repeats, best of each: the machine is shared, so alternate the contenders.
        best = {k: float("inf") for k in fns}
        for _ in range(repeats):
            for k, fn in fns.items():
                best[k] = min(best[k], _best(fn, 1))
        t_gen, t_net = best["gen"], best["nets"]

        tracemalloc.start()
        generate(net, feats, 1)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()

        row = (f"{_fmt_dur(seconds):>8} {T:>7} | {t_gen:>10.3f} {T / t_gen:>8.0f} | "
               f"{t_net:>7.3f} {T / t_net:>8.0f} | {peak:>7.1f}")
        if torch:
            t_torch = best["torch"]
            diff = float(np.max(np.abs(torch_nets()[0].numpy() - nets())))
            row += f" | {t_torch:>7.3f} {T / t_torch:>8.0f} | {t_torch / t_net:>11.2f}"
            row += f"   (max |numpy - torch| {diff:.1e})"
        print(row, flush=True)
    print("numpy/torch = torch time / numpy time for the same three nets (>1: numpy faster). "
          "'generate' adds sampling and the 6D -> matrix conversion.")
    prior_rows(rng)


def prior_rows(rng) -> None:
    """``generate`` with the bundled model (its real code store) for each code prior, and at
    intensity 1.5 (which adds the mean-pose scaling), on 3 minutes of features."""
    path = Path(__file__).resolve().parents[1] / "models" / "audio2gestures-beat2-scott.json"
    if not path.is_file():
        print(f"(no bundled model at {path}: per-prior figures skipped)")
        return
    from core.model_file import load_model
    from core.prior import available_priors

    net = Network(load_model(path))
    T = 3 * 60 * net.config.fps
    feats = (rng.standard_normal((T, net.config.n_mels)) * 10 - 40).astype(np.float32)
    print(f"bundled model ({net.config.n_joints} joints), 3 min = {T} frames, best of {ARGS.repeats}:")
    for prior in available_priors(net.prior_arrays):
        for intensity in (1.0, 1.5):
            t = _best(lambda prior=prior, intensity=intensity: generate(net, feats, 1, prior=prior,
                                                                        intensity=intensity), ARGS.repeats)
            print(f"  prior {prior:<9} intensity {intensity:.1f}: generate {t:.3f} s ({T / t:.0f} frames/s)",
                  flush=True)


def _fmt_dur(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"


if __name__ == "__main__":
    main()
