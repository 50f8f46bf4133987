"""``python -m train convert take.bvh --out take.npz``: a BVH take as an AMASS/BEAT2-layout
SMPL-X ``.npz`` (``core.bvh_smplx`` through the rest pose, written by
``core.smplx_npz.write_smplx_npz``), for this trainer and every other SMPL-X tool."""

from __future__ import annotations

from pathlib import Path

from core.bone_map import read_preset
from core.bvh import read_bvh
from core.bvh_smplx import bvh_to_smplx
from core.smplx_npz import write_smplx_npz


def convert_bvh(source, out, bone_map: str = "") -> str:
    """Convert the BVH file ``source`` to the SMPL-X ``.npz`` ``out`` (``bone_map``: a preset
    file for odd bone names, "" to detect them); returns a one-line summary."""
    preset = read_preset(bone_map, "--bone-map") if bone_map else None
    converted = bvh_to_smplx(read_bvh(source), preset, Path(source).name)
    path = write_smplx_npz(out, converted.local_rot, converted.trans, converted.fps)
    unit = {0.01: "cm", 1.0: "m"}.get(converted.unit, f"{converted.unit} m")
    fingers = "fingers" if converted.fingers else "no fingers (relaxed hands written)"
    return (f"{path}: {converted.n_frames} frames at {converted.fps:g} fps, bones by "
            f"{converted.bone_map.scheme} ({len(converted.bone_map.joints)} joints mapped), {fingers}, "
            f"file unit {unit}")
