"""Print how training scales with the corpus: 1 hour and 2 hours of recordings.

The corpus is the two paired BEAT2 takes of ../shared/data/beat2 (63.5 s and 60.1 s) linked
again and again under new names until it holds the hours asked for (each link is a recording
of its own: its own cache entry, its own crops). For each size, in fresh processes:

1. preprocessing: ``train.cache.FeatureCache.build`` into an empty cache (wall seconds);
2. ``fit`` (streaming path, real architecture, a few steps) with its export: steps/s (the
   log's last figure), wall seconds, the process's peak resident memory (``ru_maxrss``) and
   the exported model file's size (.json + .npz).

Asserts nothing; prints a table. Runs niced, one torch thread.

    .venv/bin/python benchmarks/bench_corpus.py [--hours 1 2] [--steps 20]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BEAT2 = ROOT.parent / "shared" / "data" / "beat2"
TAKES = (("2_scott_0_1_1", ".wav", 63.5), ("2_scott_0_2_2", ".wav", 60.1))


def make_corpus(folder: Path, hours: float) -> tuple[int, float]:
    """Links to the BEAT2 takes until ``hours`` of motion; returns (recordings, seconds)."""
    folder.mkdir(parents=True)
    total, i = 0.0, 0
    while total < hours * 3600:
        name, audio, seconds = TAKES[i % 2]
        os.symlink(BEAT2 / f"{name}.npz", folder / f"take{i:04d}.npz")
        os.symlink(BEAT2 / f"{name}{audio}", folder / f"take{i:04d}{audio}")
        total += seconds
        i += 1
    return i, total


def child_preprocess(data: str, cache: str) -> dict:
    from train.cache import FeatureCache
    from train.data import find_pairs

    pairs = find_pairs(data)
    report = FeatureCache(cache).build(pairs, workers=2, progress=False)
    return {"preprocess_s": report["seconds"], "recordings": report["built"],
            "frames": report["frames_built"]}


def child_fit(data: str, cache: str, out: str, steps: int) -> dict:
    import torch

    torch.set_num_threads(1)
    from train.config import TrainConfig
    from train.export import MODEL_NAME
    from train.fit import LOG_NAME, fit, read_log

    config = TrainConfig(data_dir=data, out_dir=out, steps=steps, batch_size=32, crop_frames=128,
                         log_every=max(1, steps // 2), val_every=steps, ckpt_every=steps, data_mode="stream",
                         cache_dir=cache, device="cpu")
    t0 = time.perf_counter()
    fit(config)
    wall = time.perf_counter() - t0
    sps = [r["steps_per_s"] for r in read_log(Path(out) / LOG_NAME) if r["split"] == "train"]
    model = Path(out) / MODEL_NAME
    size = model.stat().st_size + model.with_suffix(".npz").stat().st_size
    return {"fit_export_s": wall, "steps_per_s": sps[-1], "peak_rss_mb": resource.getrusage(
        resource.RUSAGE_SELF).ru_maxrss / 1024, "model_mb": size / 2**20}


def run_child(*args: str) -> dict:
    cmd = ["nice", "-n", "10", sys.executable, __file__, "--child", *args]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hours", type=float, nargs="*", default=[1.0, 2.0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--child", nargs="*")
    args = parser.parse_args()
    if args.child is not None:
        kind, *rest = args.child
        result = child_preprocess(*rest) if kind == "preprocess" else child_fit(*rest[:3], int(rest[3]))
        print(json.dumps(result))
        return
    if not (BEAT2 / "2_scott_0_1_1.npz").is_file():
        sys.exit(f"needs the BEAT2 sample at {BEAT2}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for hours in args.hours:
            base = Path(tmp) / f"{hours:g}h"
            n, seconds = make_corpus(base / "data", hours)
            pre = run_child("preprocess", str(base / "data"), str(base / "cache"))
            fitted = run_child("fit", str(base / "data"), str(base / "cache"), str(base / "run"),
                               str(args.steps))
            rows.append((hours, n, seconds, pre, fitted))
            print(f"{hours:g} h: {n} recordings, {seconds / 3600:.2f} h; {json.dumps({**pre, **fitted})}",
                  flush=True)
    print("\n| corpus | recordings | preprocess (s) | steps/s (batch 32, crop 128, CPU 1 thread) "
          "| fit + export (s) | peak memory of fit (MB) | model file (MB) |")
    print("|---|---|---|---|---|---|---|")
    for _, n, seconds, pre, fitted in rows:
        print(f"| {seconds / 3600:.2f} h | {n} | {pre['preprocess_s']:.1f} | {fitted['steps_per_s']:.2f} | "
              f"{fitted['fit_export_s']:.0f} | {fitted['peak_rss_mb']:.0f} | {fitted['model_mb']:.1f} |")
    if len(rows) >= 2:
        a, b = rows[0][4], rows[-1][4]
        growth = 100 * (b["peak_rss_mb"] / a["peak_rss_mb"] - 1)
        print(f"\npeak memory {rows[-1][0]:g} h vs {rows[0][0]:g} h: {growth:+.1f} %; "
              f"model file: {100 * (b['model_mb'] / a['model_mb'] - 1):+.1f} %")


if __name__ == "__main__":
    main()
