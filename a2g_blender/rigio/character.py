# SPDX-License-Identifier: GPL-3.0-or-later
"""Add an SMPL-X character: the 55-bone armature and the skinned mannequin mesh.

Bones are named as the SMPL-X Blender add-ons name them, sit at the rest joints converted
from SMPL-X Y-up to Blender Z-up by (x, y, z) -> (x, -z, y), and all point +Z with roll 0, so
each bone's local frame is the SMPL-X joint frame: an SMPL-X local axis-angle converts
directly to the bone quaternion. Metres, Z up; the object is lifted so the feet touch the
ground at the 3D cursor. The mesh comes from ``core/assets/mannequin.npz`` (mannequin-x,
Apache-2.0) with one vertex group per joint, written in bulk.
"""

from __future__ import annotations

import numpy as np

from .. import compat

ARMATURE_NAME = "SMPL-X"
MESH_NAME = "SMPL-X Mannequin"
MATERIAL_NAME = "SMPL-X Mannequin"


def _build_armature(context, obj, names, parents, joints) -> None:
    import bpy

    from ..core.mannequin import bone_tails

    arm = obj.data
    view_layer = context.view_layer
    view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    try:
        tails = bone_tails(joints, parents)
        edit = []
        for j, name in enumerate(names):
            eb = arm.edit_bones.new(name)
            eb.head = joints[j]
            eb.tail = tails[j]
            eb.roll = 0.0
            eb.use_connect = False
            if parents[j] >= 0:
                eb.parent = edit[parents[j]]
            edit.append(eb)
    finally:
        bpy.ops.object.mode_set(mode="OBJECT")
    for pb in obj.pose.bones:
        pb.rotation_mode = "QUATERNION"


def _build_mesh(name: str, vertices: np.ndarray, faces: np.ndarray):
    import bpy

    me = bpy.data.meshes.new(name)
    me.vertices.add(len(vertices))
    me.vertices.foreach_set("co", vertices.astype(np.float32).ravel())
    me.loops.add(faces.size)
    me.polygons.add(len(faces))
    me.polygons.foreach_set("loop_start", np.arange(0, faces.size, faces.shape[1], dtype=np.int32))
    me.polygons.foreach_set("vertices", faces.astype(np.int32).ravel())
    me.update(calc_edges=True)
    me.shade_smooth()
    return me


def _bind(mesh_obj, names, skin_joints: np.ndarray, skin_weights: np.ndarray) -> None:
    """One vertex group per joint; vertices with equal weight are added in one call."""
    from ..core.mannequin import vertex_groups

    for name, weights in zip(names, vertex_groups(skin_joints, skin_weights, len(names)), strict=True):
        group = mesh_obj.vertex_groups.new(name=name)
        for value, vertices in weights:
            group.add(vertices, value, "ADD")


def _material():
    import bpy

    mat = bpy.data.materials.get(MATERIAL_NAME)
    if mat is None:
        mat = bpy.data.materials.new(MATERIAL_NAME)
        mat.diffuse_color = (0.62, 0.48, 0.34, 1.0)
        compat.use_nodes(mat)
        bsdf = mat.node_tree.nodes.get("Principled BSDF") if mat.node_tree else None
        if bsdf is not None:
            bsdf.inputs["Base Color"].default_value = (0.62, 0.48, 0.34, 1.0)
            bsdf.inputs["Roughness"].default_value = 0.55
    return mat


def _relax_fingers(arm_obj) -> None:
    """Pose the 30 finger bones in the relaxed mean hand (not flat): what a model without hands
    leaves them at. The bones are built the SMPL-X way, so an SMPL-X local rotation is the pose
    quaternion as it is (see core/scene_motion.py)."""
    from ..core.rotations import axis_angle_to_quat
    from ..core.skeleton import HAND_JOINTS, JOINT_NAMES, hand_mean

    for j, q in zip(HAND_JOINTS, axis_angle_to_quat(hand_mean()), strict=True):
        bone = arm_obj.pose.bones[JOINT_NAMES[j]]
        bone.rotation_mode = "QUATERNION"
        bone.rotation_quaternion = tuple(float(v) for v in q)


def add_character(context, location=None):
    """Add the armature (active, selected) and its bound mannequin; returns (armature, mesh)."""
    import bpy

    from ..core.skeleton import JOINT_NAMES, PARENTS, load_mannequin_asset, y_up_to_z_up

    asset = load_mannequin_asset()
    joints = y_up_to_z_up(asset["rest_joints"].astype(np.float64))
    vertices = y_up_to_z_up(asset["mesh_vertices"].astype(np.float64))
    lift = -float(vertices[:, 2].min())
    if location is None:
        location = context.scene.cursor.location
    collection = context.collection or context.scene.collection

    if context.mode != "OBJECT" and context.active_object is not None:
        bpy.ops.object.mode_set(mode="OBJECT")
    for obj in context.view_layer.objects:
        obj.select_set(False)

    arm_obj = bpy.data.objects.new(ARMATURE_NAME, bpy.data.armatures.new(ARMATURE_NAME))
    arm_obj.location = (location[0], location[1], location[2] + lift)
    arm_obj.show_in_front = True
    collection.objects.link(arm_obj)
    _build_armature(context, arm_obj, JOINT_NAMES, PARENTS, joints)
    _relax_fingers(arm_obj)

    mesh = _build_mesh(MESH_NAME, vertices, asset["mesh_faces"])
    mesh.materials.append(_material())
    mesh_obj = bpy.data.objects.new(MESH_NAME, mesh)
    collection.objects.link(mesh_obj)
    mesh_obj.parent = arm_obj
    _bind(mesh_obj, JOINT_NAMES, asset["skin_joints"], asset["skin_weights"])
    modifier = mesh_obj.modifiers.new("Armature", "ARMATURE")
    modifier.object = arm_obj

    arm_obj.select_set(True)
    context.view_layer.objects.active = arm_obj
    return arm_obj, mesh_obj
