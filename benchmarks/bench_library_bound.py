"""Print what bounding the export's fitting frames (the retrieval library) costs in quality.

``train.export`` fits the code priors on at most ``FIT_MAX_FRAMES`` training frames, in
256-frame windows spread evenly along the corpus (``train.data.TrainingWindows``). The bound
(18,000 frames, 10 minutes) is larger than all the paired data here (about 3,150 training
frames), so this script shrinks it instead: the bundled model is re-exported with its priors
fitted on all its training frames, on 4 and on 2 windows of 450 frames (about 57 % and 29 %),
and each is evaluated
with ``train.evaluate`` (the model card's protocol: validation tails and unseen speech,
retrieval prior, ``--samples`` seeds). Same weights; only the library differs. Asserts nothing.

    .venv/bin/python benchmarks/bench_library_bound.py [--samples 5]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BEAT2 = ROOT.parent / "shared" / "data" / "beat2"
MODEL = ROOT / "models" / "audio2gestures-beat2-scott.json"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=5)
    args = parser.parse_args()
    if not (BEAT2 / "2_scott_0_1_1.npz").is_file():
        sys.exit(f"needs the BEAT2 sample at {BEAT2}")
    import train.export as export
    from core.model_file import load_model
    from train.evaluate import evaluate

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, frames in (("all (about 3,150)", 10**9), ("4 windows of 450 (1,800)", 1800),
                              ("2 windows of 450 (900)", 900)):
            export.FIT_MAX_FRAMES = frames
            path = export.reexport_model_file(MODEL, BEAT2, Path(tmp) / f"m{frames}.json", "retrieval")
            library = load_model(path).prior["prior_codes"].shape[0]
            out = Path(tmp) / f"eval{frames}"
            evaluate(path, BEAT2, out, n_samples=args.samples, priors=["retrieval"], intensities=[])
            result = next(iter(json.loads((out / "results.json").read_text())["models"].values()))
            rows.append((label, library, result))
    print("\n| fitting frames | library frames | L1 (cm) | FGD | BC | window statistics, validation tails "
          "(held out, x real) | window statistics (unseen speech, in-sample, x real) | arm movement (unseen, "
          "x mocap) |")
    print("|---|---|---|---|---|---|---|---|")
    for label, library, r in rows:
        u = r["unseen"]
        tails = next(iter(r.get("held_out", {}).values()), {}).get("tails_window_ratio", float("nan"))
        print(f"| {label} | {library} | {r['l1']:.2f} | {r['fgd']:.1f} | {r['bc']:.3f} | {tails:.2f} | "
              f"{u['window_ratio']:.2f} | {u['arm_movement']:.2f} |")


if __name__ == "__main__":
    main()
