# SPDX-License-Identifier: GPL-3.0-or-later
"""The Bone Map sub-panel: which bone of the target rig plays which SMPL-X joint.

The map lives on the armature object (``obj.a2g_bone_map``: one entry per SMPL-X joint with a
bone picker, plus further bones that share the joint's rotation, e.g. a second neck bone).
Empty: the map is detected from the bone names each time (:mod:`.core.bone_map`). Auto-Fill
writes the detected map into the entries (keeping the ones already set), Clear empties
them, and presets save and load the map as JSON for other rigs of the same kind.
"""

from __future__ import annotations

import bpy
from bpy_extras.io_utils import ExportHelper, ImportHelper

from ..registration import registrar
from .panel import ClosedSection


class A2GBoneMapItem(bpy.types.PropertyGroup):
    joint: bpy.props.StringProperty(name="Joint", description="SMPL-X joint name")
    bone: bpy.props.StringProperty(name="Bone", description="The rig's bone for this joint")
    extra: bpy.props.StringProperty(
        name="Also",
        description="Further bones (comma-separated, parent first) above this one that share "
        "the joint's rotation, e.g. a second neck bone")


def _target(context):
    from ..jobs.pipeline import target_armature

    obj = target_armature(context)
    return obj if obj is not None and obj.type == "ARMATURE" else None


def _edit_blocker(context) -> str | None:
    obj = _target(context)
    if obj is None:
        return "Select an armature, or set Target in the Gestures panel"
    if obj.mode == "EDIT":
        return "Switch to Object or Pose Mode to edit the bone map"
    return None


class _MapOperator(bpy.types.Operator):
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        from ..jobs.operators import poll_with_reason

        return poll_with_reason(cls, _edit_blocker(context))


class A2G_OT_bone_map_auto_fill(_MapOperator):
    bl_idname = "a2g.bone_map_auto_fill"
    bl_label = "Auto-Fill"
    bl_description = ("Fill the bone map from the bone names (known naming schemes, else name "
                      "similarity); joints already set are kept")

    def execute(self, context):
        from ..core.bone_map import SCHEME_TITLES, BoneMap, BoneMapError, auto_fill, detect, missing_essential
        from ..rigio import rig

        obj = _target(context)
        names = [b.name for b in obj.data.bones]
        kept = rig.stored_map(obj)
        keep = dict(kept.joints) if kept else {}
        try:
            found = detect(names, rig.bone_parents(obj), obj.name)
            joints = {**found.joints, **keep}
            scheme = found.scheme
            problems = []
        except BoneMapError as exc:
            joints, problems = auto_fill(names, rig.bone_parents(obj), keep)
            scheme = "similarity"
            if not joints:
                self.report({"ERROR"}, str(exc))
                return {"CANCELLED"}
        rig.store_map(obj, BoneMap(joints, scheme))
        missing = missing_essential(joints)
        text = f"Bone map of '{obj.name}': {len(joints)} joints ({SCHEME_TITLES.get(scheme, scheme)})"
        if missing:
            self.report({"WARNING"}, f"{text}; still missing: {', '.join(missing)}")
        elif problems:
            self.report({"WARNING"}, f"{text}; {problems[0]}")
        else:
            self.report({"INFO"}, text)
        return {"FINISHED"}


class A2G_OT_bone_map_clear(_MapOperator):
    bl_idname = "a2g.bone_map_clear"
    bl_label = "Clear"
    bl_description = "Empty the bone map: it is then detected from the bone names again"

    def execute(self, context):
        _target(context).a2g_bone_map.clear()
        return {"FINISHED"}


class A2G_OT_bone_map_load(_MapOperator, ImportHelper):
    bl_idname = "a2g.bone_map_load"
    bl_label = "Load Bone Map Preset"
    bl_description = "Set the bone map from a JSON preset (every bone it names must exist)"
    filename_ext = ".json"
    filter_glob: bpy.props.StringProperty(default="*.json", options={"HIDDEN"})

    def execute(self, context):
        from ..core.bone_map import BoneMapError, check, read_preset
        from ..rigio import rig

        obj = _target(context)
        try:
            bone_map = read_preset(self.filepath)
            check(bone_map, [b.name for b in obj.data.bones], obj.name)
        except BoneMapError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        rig.store_map(obj, bone_map)
        self.report({"INFO"}, f"Loaded the bone map of '{obj.name}' from {self.filepath}")
        return {"FINISHED"}


class A2G_OT_bone_map_save(bpy.types.Operator, ExportHelper):
    bl_idname = "a2g.bone_map_save"
    bl_label = "Save Bone Map Preset"
    bl_description = "Save the bone map (set, else detected) as a JSON preset"
    bl_options = {"REGISTER"}
    filename_ext = ".json"
    filter_glob: bpy.props.StringProperty(default="*.json", options={"HIDDEN"})

    @classmethod
    def poll(cls, context):
        from ..jobs.operators import poll_with_reason

        return poll_with_reason(cls, _edit_blocker(context))

    def execute(self, context):
        from ..core.bone_map import BoneMapError, write_preset
        from ..rigio import rig

        obj = _target(context)
        try:
            bone_map = rig.resolve_map(obj)
        except BoneMapError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        try:
            write_preset(bone_map, self.filepath)
        except OSError as exc:
            self.report({"ERROR"}, f"Cannot write {self.filepath}: {exc.strerror}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"Saved the bone map of '{obj.name}' to {self.filepath}")
        return {"FINISHED"}


class A2G_PT_bone_map(ClosedSection, bpy.types.Panel):
    bl_idname = "A2G_PT_bone_map"
    bl_label = "Bone Map"

    def draw(self, context):
        from ..core.bone_map import BODY_JOINTS, LABELS, SCHEME_TITLES, BoneMapError, missing_essential
        from ..rigio import rig

        layout = self.layout
        obj = _target(context)
        if obj is None:
            layout.label(text="Select an armature", icon="INFO")
            return
        stored = rig.stored_map(obj)
        try:
            bone_map = stored or rig.resolve_map(obj)
            status, icon = f"{SCHEME_TITLES.get(bone_map.scheme, bone_map.scheme)} rig", "CHECKMARK"
        except BoneMapError as exc:
            bone_map, status, icon = stored, str(exc), "ERROR"
        box = layout.box()
        for i, line in enumerate(_wrap(status, 48)):
            box.label(text=line, icon=icon if i == 0 else "BLANK1")
        missing = missing_essential(bone_map.joints) if bone_map else []
        if stored and missing:
            box.label(text=f"Missing: {', '.join(missing)}", icon="ERROR")
        row = layout.row(align=True)
        row.operator("a2g.bone_map_auto_fill", icon="AUTO")
        row.operator("a2g.bone_map_clear", icon="X")
        row = layout.row(align=True)
        row.operator("a2g.bone_map_load", text="Load Preset", icon="FILEBROWSER")
        row.operator("a2g.bone_map_save", text="Save Preset", icon="FILE_TICK")
        if not stored:
            layout.label(text="Detected from bone names; Auto-Fill to edit", icon="INFO")
            return
        items = {item.joint: item for item in obj.a2g_bone_map}
        col = layout.column(align=True)
        for joint in (*BODY_JOINTS, *(j for j in items if j not in BODY_JOINTS)):
            item = items.get(joint)
            if item is None or (joint not in BODY_JOINTS and not item.bone and not _show_all(obj)):
                continue
            row = col.row(align=True)
            row.label(text=LABELS.get(joint, joint),
                      icon="CHECKMARK" if item.bone in obj.data.bones else "DOT")
            row.prop_search(item, "bone", obj.data, "bones", text="")
        col.prop(obj, "a2g_bone_map_show_all", text="Fingers, jaw and eyes")


def _show_all(obj) -> bool:
    return bool(getattr(obj, "a2g_bone_map_show_all", False))


def _wrap(text: str, width: int) -> list[str]:
    words, lines, line = text.split(), [], ""
    for w in words:
        if line and len(line) + 1 + len(w) > width:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    return lines + ([line] if line else [])


_classes = (A2GBoneMapItem, A2G_OT_bone_map_auto_fill, A2G_OT_bone_map_clear,
            A2G_OT_bone_map_load, A2G_OT_bone_map_save, A2G_PT_bone_map)

register, unregister = registrar(_classes, (
    (bpy.types.Object, "a2g_bone_map", bpy.props.CollectionProperty(type=A2GBoneMapItem)),
    (bpy.types.Object, "a2g_bone_map_show_all", bpy.props.BoolProperty(
        name="Show All Joints", description="Show the fingers, jaw and eyes in the bone map",
        default=False)),
))
