"""PNG plots for training runs and evaluations (matplotlib, headless Agg backend)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

#: Panels of a learning-curve figure: title -> log terms drawn in it (those present are drawn).
CURVE_PANELS = {
    "total loss": ("total",),
    "positions (cm)": ("recon_pos", "a2m_pos", "a2x_relaxed"),
    "rotations (rad)": ("recon_rot", "a2m_rot", "a2x_rot"),
    "code std over time": ("std_S_A", "std_S_M", "std_I_M", "std_I_R"),
}


def learning_curves(records: list[dict], path, title: str = "") -> Path:
    """Train (lines) and validation (dots) curves of the terms in ``CURVE_PANELS`` from the
    records of a ``log.jsonl``."""
    fig, axes = plt.subplots(1, len(CURVE_PANELS), figsize=(4.2 * len(CURVE_PANELS), 3.4))
    for ax, (panel, names) in zip(axes, CURVE_PANELS.items(), strict=True):
        for i, name in enumerate(names):
            colour = f"C{i}"
            for split, style in (("train", "-"), ("val", "o")):
                points = [(r["step"], r[name]) for r in records if r.get("split") == split and name in r]
                if points:
                    steps, values = zip(*points, strict=True)
                    ax.plot(steps, values, style, color=colour, ms=3, lw=1,
                            label=name if split == "train" else None)
        ax.set_title(panel)
        ax.set_xlabel("step")
        if panel == "code std over time":
            ax.set_yscale("log")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.suptitle(title or "learning curves (lines: train, dots: validation)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def speed_traces(traces: dict[str, np.ndarray], fps: float, onsets: np.ndarray, path,
                 title: str = "") -> Path:
    """One panel per motion: a speed trace ``(T,)`` (m/s) against time, audio onsets as
    vertical lines."""
    fig, axes = plt.subplots(len(traces), 1, figsize=(11, 1.9 * len(traces)), sharex=True, squeeze=False)
    for ax, (name, speed) in zip(axes[:, 0], traces.items(), strict=True):
        t = np.arange(len(speed)) / fps
        for onset in onsets:
            ax.axvline(onset, color="0.8", lw=0.8, zorder=0)
        ax.plot(t, speed, lw=1)
        ax.set_ylabel("m/s")
        ax.set_title(name, fontsize=9, loc="left")
    axes[-1, 0].set_xlabel("time (s); grey: audio onsets")
    fig.suptitle(title or "wrist speed against audio onsets")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
