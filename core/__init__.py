"""Audio2Gestures runtime core: numpy only (no bpy, no torch). See docs/DESIGN.md."""
