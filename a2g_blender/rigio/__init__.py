# SPDX-License-Identifier: GPL-3.0-or-later
"""Rig I/O: the target armature and its keys (inspecting rigs, the one key writer, generated
actions, Rigify, constrained rigs, Add SMPL-X Character, .npz import and export)."""
