"""Training, evaluation and export of the Audio2Gestures network (torch)."""
