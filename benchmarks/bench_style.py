"""Style libraries (core/style.py, issue #22): how fast a library builds and how much of the
difference between two clips' mannerisms survives into generated motion on unseen speech.

With the bundled model, on ``2_scott_0_4_4.wav`` (speech with no motion: the clips never had it)
and seeds 0-3, for pairs of single-clip libraries that differ in one trait:

- handedness: a real take (right hand held higher) and the same take mirrored (the issue's
  done-criterion); trait = mean right-minus-left wrist height, cm; once matched by the motion
  encoder's S_M (no audio) and once with the take's own speech given to both clips (matched by
  audio);
- width: the two real takes (``2_scott_0_1_1``, ``2_scott_0_2_2``); trait = mean distance
  between the wrists across the body (x), cm;
- lean (a stranger's mannerism the training data never had): a take and the same take with
  ``spine3`` pitched 20 degrees forward; trait = the head's forward (z) offset from the pelvis,
  cm.

For each it prints the clips' own trait difference, the generated motion's (mean and per seed)
and the ratio ("carried"), and the decoder's reconstruction of each clip through its own codes
(S_M, I_M) as the upper bound. Then the build time of a library of 5 minutes of clips, with an
empty cache and again with every clip cached.

Usage: python benchmarks/bench_style.py [--data ../shared/data/beat2] [--seeds 4]
Prints figures only; nothing here asserts.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core import style  # noqa: E402
from core.audio import load_audio_16k_mono  # noqa: E402
from core.features import features_for_motion  # noqa: E402
from core.fk import forward_kinematics  # noqa: E402
from core.generate import DEFAULT_SYNC, generate  # noqa: E402
from core.model_file import load_model  # noqa: E402
from core.network import Network  # noqa: E402
from core.prior import RetrievalPrior  # noqa: E402
from core.rotations import axis_angle_to_matrix, matrix_to_sixd, sixd_to_matrix  # noqa: E402
from core.skeleton import BODY_PARENTS, NUM_BODY_JOINTS, body_rest_offsets, mirror_rotations  # noqa: E402
from core.smplx_npz import read_smplx_npz  # noqa: E402

PELVIS, SPINE3, HEAD, LEFT_WRIST, RIGHT_WRIST = 0, 9, 15, 20, 21


def positions(rot) -> np.ndarray:
    return forward_kinematics(np.asarray(rot, np.float64)[:, :NUM_BODY_JOINTS], body_rest_offsets(),
                              BODY_PARENTS)[0] * 100.0


TRAITS = {
    "handedness": lambda p: float((p[:, RIGHT_WRIST, 1] - p[:, LEFT_WRIST, 1]).mean()),
    "handedness, with speech": lambda p: float((p[:, RIGHT_WRIST, 1] - p[:, LEFT_WRIST, 1]).mean()),
    "width": lambda p: float(np.abs(p[:, RIGHT_WRIST, 0] - p[:, LEFT_WRIST, 0]).mean()),
    "lean": lambda p: float((p[:, HEAD, 2] - p[:, PELVIS, 2]).mean()),
}


def leaned(rot: np.ndarray, degrees: float = 20.0) -> np.ndarray:
    out = rot.copy()
    out[:, SPINE3] = out[:, SPINE3] @ axis_angle_to_matrix(np.array([np.radians(degrees), 0.0, 0.0]))
    return out


def reconstruction(net: Network, clip: style.StyleClip) -> np.ndarray:
    rot = style.model_rotations(clip, net.config.hands)
    s_m, _, i_m, _ = net.motion_encode(matrix_to_sixd(rot).reshape(len(rot), -1))
    return sixd_to_matrix(net.decode(s_m, i_m).reshape(len(rot), -1, 6))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "beat2"))
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--sync", type=float, default=DEFAULT_SYNC,
                   help=f"the beat warp's strength (default {DEFAULT_SYNC}, the add-on's default)")
    a = p.parse_args()
    data = Path(a.data)
    net = Network(load_model(ROOT / "models" / "audio2gestures-beat2-scott.json"))
    speech = features_for_motion(load_audio_16k_mono(data / "2_scott_0_4_4.wav"))
    take1 = read_smplx_npz(data / "2_scott_0_1_1.npz").local_rot
    take2 = read_smplx_npz(data / "2_scott_0_2_2.npz").local_rot
    own_speech = features_for_motion(load_audio_16k_mono(data / "2_scott_0_1_1.wav"))
    pairs = {
        "handedness": (("2_scott_0_1_1", take1), ("2_scott_0_1_1 mirrored", mirror_rotations(take1))),
        "handedness, with speech": (("2_scott_0_1_1 + its speech", take1),
                                    ("2_scott_0_1_1 mirrored + the same speech", mirror_rotations(take1))),
        "width": (("2_scott_0_1_1", take1), ("2_scott_0_2_2", take2)),
        "lean": (("2_scott_0_1_1 spine3 +20 deg", leaned(take1)), ("2_scott_0_1_1", take1)),
    }
    bundled = [TRAITS[t](positions(generate(net, speech, s, sync=a.sync))) for t in TRAITS for s in range(1)
               if "speech" not in t]
    print(f"unseen speech 2_scott_0_4_4: {len(speech) / 30:.1f} s; seeds 0-{a.seeds - 1}; "
          f"sync {a.sync}; bundled "
          f"library, seed 0: " + ", ".join(f"{t} {v:.1f} cm" for t, v in
                                       zip([t for t in TRAITS if "speech" not in t], bundled, strict=True)))
    print("| trait | clip A | clip B | clips' A-B (cm) | generated A-B (cm), per seed | carried | "
          "reconstruction A-B (cm) | reconstruction / clips |")
    print("|---|---|---|---|---|---|---|---|")
    for trait, ((na, ra), (nb, rb)) in pairs.items():
        f = TRAITS[trait]
        heard = own_speech if "speech" in trait else None  # matched by the clips' own audio
        ca, cb = style.StyleClip(na, ra, 30.0, heard), style.StyleClip(nb, rb, 30.0, heard)
        clip_diff = f(positions(ra)) - f(positions(rb))
        sa, sb = (style.styled(net, style.build_library(net, [c])) for c in (ca, cb))
        gen = [f(positions(generate(sa, speech, s, prior="retrieval", sync=a.sync)))
               - f(positions(generate(sb, speech, s, prior="retrieval", sync=a.sync)))
               for s in range(a.seeds)]
        rec = f(positions(reconstruction(net, ca))) - f(positions(reconstruction(net, cb)))
        print(f"| {trait} | {na} | {nb} | {clip_diff:.1f} | {np.mean(gen):.1f} "
              f"({', '.join(f'{g:.1f}' for g in gen)}) | {np.mean(gen) / clip_diff:.2f} | {rec:.1f} | "
              f"{rec / clip_diff:.2f} |")

    five = (take1, take2, mirror_rotations(take1), mirror_rotations(take2), leaned(take2))
    clips = [style.StyleClip(f"clip {i}", r[:1800], 30.0) for i, r in enumerate(five)]
    style.clear_cache()
    t = time.perf_counter()
    lib = style.build_library(net, clips)
    cold = time.perf_counter() - t
    t = time.perf_counter()
    style.build_library(net, clips)
    warm = time.perf_counter() - t
    t = time.perf_counter()
    RetrievalPrior(lib.arrays)
    prior = time.perf_counter() - t
    print(f"library of {len(clips)} clips, {lib.frames / 30 / 60:.1f} min: built in {cold:.3f} s with an "
          f"empty cache, {warm:.3f} s all cached; the retrieval prior's index over it {prior:.3f} s "
          f"(built once per take)")


if __name__ == "__main__":
    main()
