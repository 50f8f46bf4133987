"""BVH corpora: a folder of BVH + audio trains; ``python -m train convert`` writes the SMPL-X npz."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile

torch = pytest.importorskip("torch")

from core.bone_map import to_json  # noqa: E402
from core.bvh import read_bvh  # noqa: E402
from core.bvh_smplx import detect_bone_map  # noqa: E402
from core.model_file import load_model  # noqa: E402
from core.rotations import geodesic_angle  # noqa: E402
from core.smplx_npz import read_smplx_npz  # noqa: E402
from tests.core.bvh_takes import write_take  # noqa: E402
from tests.train.conftest import EXCERPT, TINY  # noqa: E402
from train.__main__ import main  # noqa: E402
from train.config import TrainConfig  # noqa: E402
from train.data import find_pairs, load_recording, read_motion  # noqa: E402
from train.export import MODEL_NAME  # noqa: E402
from train.fit import fit  # noqa: E402

TAKES = ("2_scott_0_1_1_excerpt", "2_scott_0_2_2_excerpt")


@pytest.fixture(scope="module")
def bvh_folder(tmp_path_factory):
    """The excerpt as a mocap user would bring it: Mixamo-named A-pose BVH in centimetres at
    60 fps, each with its WAV (same stem) beside it."""
    folder = tmp_path_factory.mktemp("bvh")
    for name in TAKES:
        motion = read_smplx_npz(EXCERPT / f"{name}.npz").local_rot
        write_take(folder / f"{name}.bvh", motion, 30.0, out_fps=60.0)
        audio, rate = soundfile.read(str(EXCERPT / f"{name}.flac"), dtype="int16")
        soundfile.write(str(folder / f"{name}.wav"), audio, rate, subtype="PCM_16")
    return folder


def test_bvh_recordings_load_like_their_npz(bvh_folder):
    pairs = find_pairs(bvh_folder)
    assert [p.motion_path.suffix for p in pairs] == [".bvh", ".bvh"]
    for pair in pairs:
        rec = load_recording(pair, hands=True)
        npz = read_motion(EXCERPT / f"{pair.name}.npz", hands=True)
        assert rec.n_frames == npz.shape[0]
        ours = read_motion(pair.motion_path, hands=True)
        assert np.degrees(geodesic_angle(ours.astype(np.float64), npz.astype(np.float64))).max() < 0.5


def test_a_folder_of_bvh_and_audio_trains(bvh_folder, tmp_path):
    config = TrainConfig(data_dir=str(bvh_folder), out_dir=str(tmp_path / "run"), crop_frames=16,
                         batch_size=2, steps=2, log_every=1, val_every=2, ckpt_every=2, hands=True)
    fit(config, TINY)
    meta = load_model(tmp_path / "run" / MODEL_NAME).metadata
    assert meta["train_recordings"] == list(TAKES)


def test_a_bone_map_preset_is_used(bvh_folder, tmp_path):
    preset = tmp_path / "map.json"
    bm = detect_bone_map(read_bvh(bvh_folder / f"{TAKES[0]}.bvh"))
    data = json.loads(to_json(bm))
    data["joints"]["left_shoulder"], data["joints"]["right_shoulder"] = (data["joints"]["right_shoulder"],
                                                                         data["joints"]["left_shoulder"])
    preset.write_text(json.dumps(data))
    swapped = find_pairs(bvh_folder, bone_map=str(preset))[0]
    plain = find_pairs(bvh_folder)[0]
    a = read_motion(swapped.motion_path, bone_map=swapped.bone_map)
    b = read_motion(plain.motion_path)
    assert not np.allclose(a, b, atol=1e-3)  # the preset, not detection, decided


def test_convert_writes_an_smplx_npz(bvh_folder, tmp_path, capsys):
    out = tmp_path / "take.npz"
    assert main(["convert", str(bvh_folder / f"{TAKES[1]}.bvh"), "--out", str(out)]) == 0
    assert "mixamo" in capsys.readouterr().out
    clip, source = read_smplx_npz(out), read_smplx_npz(EXCERPT / f"{TAKES[1]}.npz")
    assert clip.fps == 60 and clip.n_frames == 2 * source.n_frames  # the 60 fps take as written
    ours = clip.local_rot[::2].astype(np.float64)
    err = np.degrees(geodesic_angle(ours, source.local_rot.astype(np.float64)))
    assert np.median(err[:, :22]) < 0.1 and np.percentile(err, 95) < 1.0
    assert main(["convert", str(EXCERPT / "README.md"), "--out", str(tmp_path / "x.npz")]) == 2
    assert "not a BVH file" in capsys.readouterr().err
