"""PNG figures for the evaluation report (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from ..arkit import INDEX
from ..metrics.face import CLOSED_MM
from ..phonemes import BILABIALS


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _pair(values: np.ndarray, stem: str) -> np.ndarray:
    """Mean of the Left and Right channels of ``stem``."""
    return 0.5 * (values[:, INDEX[stem + "Left"]] + values[:, INDEX[stem + "Right"]])


def plot_curves(curves: dict[str, Any], path: Path, model: str) -> Path:
    """Predicted vs target: jaw, lip gap (with p/b/m shaded), mouth expression and brows."""
    plt = _plt()
    pred, target, fps = curves["pred"], curves["target"], curves["fps"]
    t = np.arange(len(target)) / fps
    fig, axes = plt.subplots(4, 1, figsize=(11, 9), sharex=True)
    panels = [
        ("jawOpen", [("jawOpen", pred[:, INDEX["jawOpen"]], target[:, INDEX["jawOpen"]])]),
        ("lip gap (mm)", [("gap", curves["gap_pred"], curves["gap_target"])]),
        ("mouth expression", [(name, _pair(pred, stem), _pair(target, stem)) for name, stem in
                              (("smile", "mouthSmile"), ("frown", "mouthFrown"), ("press", "mouthPress"))]),
        ("brows", [("innerUp", pred[:, INDEX["browInnerUp"]], target[:, INDEX["browInnerUp"]])]
         + [(name, _pair(pred, stem), _pair(target, stem)) for name, stem in
            (("down", "browDown"), ("outerUp", "browOuterUp"))]),
    ]
    colours = ["tab:blue", "tab:orange", "tab:green"]
    for ax, (title, lines) in zip(axes, panels, strict=True):
        for (name, p, g), colour in zip(lines, colours, strict=False):
            ax.plot(t, g, color=colour, lw=2.2, alpha=0.45, label=f"{name} target")
            ax.plot(t, p, color=colour, lw=1.1, ls="--", label=f"{name} {model}")
        ax.set_ylabel(title)
        ax.legend(loc="upper right", fontsize=7, ncol=len(lines))
        ax.grid(alpha=0.3)
    for ph in curves["phones"]:
        if ph.label in BILABIALS:
            axes[1].axvspan(ph.start, ph.end, color="red", alpha=0.15, lw=0)
    axes[1].axhline(CLOSED_MM, color="red", lw=0.8, ls=":")
    axes[-1].set_xlabel("seconds (red spans: true p/b/m; dotted: closure threshold)")
    title = f"{curves['id']}: " + " | ".join(curves["segments"])
    fig.suptitle("\n".join(textwrap.wrap(title, 130)), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_table(rows: list[tuple[str, str, str, str]], path: Path, title: str) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(10, 0.3 * (len(rows) + 2)))
    ax.axis("off")
    table = ax.table(cellText=[list(r) for r in rows], colLabels=["metric", "model", "target (reference)", "ideal"],
                     loc="center", cellLoc="left", colLoc="left", colWidths=[0.42, 0.16, 0.2, 0.22])
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.scale(1, 1.25)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_adherence(adherence: dict[str, dict[str, float]], path: Path, model: str) -> Path:
    plt = _plt()
    names = list(adherence)
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(6, 0.55 * len(names) + 2), 3.5))
    ax.bar(x - 0.2, [adherence[n]["requested"] for n in names], 0.4, label="requested (instruction)")
    ax.bar(x + 0.2, [adherence[n]["realised"] for n in names], 0.4, label=f"realised by {model} vs neutral")
    ax.set_xticks(x, names, rotation=45, fontsize=8)
    ax.axhline(0, color="k", lw=0.6)
    ax.set_ylabel("mean AU readout")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_real_clip(curves: dict[str, Any], path: Path, model: str) -> Path:
    """One real recording: loudness with the detected pauses, lip gap with the pauses shaded, brows and squint."""
    plt = _plt()
    t = curves["times"]
    fig, axes = plt.subplots(3, 1, figsize=(11, 7), sharex=True)
    axes[0].plot(t[: len(curves["loudness"])], curves["loudness"], color="tab:blue", lw=1.0, label="loudness")
    axes[0].set_ylabel("loudness 0..1")
    axes[1].plot(t, curves["gap"], color="tab:orange", lw=1.1, label=f"lip gap ({model})")
    axes[1].axhline(CLOSED_MM, color="red", lw=0.8, ls=":")
    axes[1].fill_between(t, 0, float(np.max(curves["gap"], initial=1.0)), where=curves["inner"], color="green",
                         alpha=0.15, lw=0, label="measured pause frames")
    axes[1].set_ylabel("lip gap (mm)")
    for name, values in curves["brows"].items():
        axes[2].plot(t, values, lw=1.0, label=name)
    axes[2].plot(t, curves["squint"], lw=1.0, ls="--", label="eyeSquint (mean L/R)")
    axes[2].set_ylabel("brows / squint")
    for ax in axes:
        for a, b in curves["pauses"]:
            ax.axvspan(a, b, color="grey", alpha=0.15, lw=0)
        ax.legend(loc="upper right", fontsize=7)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("seconds (grey: pauses ≥ 0.2 s from voice activity; dotted: closure threshold)")
    title = f"{curves['file']} — {model}" + (f": {curves['title']}" if curves["title"] else "")
    fig.suptitle("\n".join(textwrap.wrap(title, 130)), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
