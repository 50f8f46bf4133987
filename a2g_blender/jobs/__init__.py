# SPDX-License-Identifier: GPL-3.0-or-later
"""Operators and the jobs behind them: Generate, Resample Range, takes, pins, the audio
heard, the model, previews (prepare on the main thread, compute in a worker, apply)."""
