"""The report's plots, rendered by matplotlib (Agg) to inline SVG.

Every time-series plot shades the fault windows, so cause and effect line up.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from harness.report.data import RunData

__all__ = ["PLOTS", "all_plots", "figure", "svg"]

_FAULT_COLOURS = ["#ef9a9a", "#ffcc80", "#ce93d8", "#90caf9", "#a5d6a7"]


def figure(height: float = 3.2) -> tuple[Figure, Axes]:
    fig, ax = plt.subplots(figsize=(10, height), dpi=100)
    ax.grid(True, alpha=0.3)
    return fig, ax


def svg(fig: Figure) -> str:
    buffer = io.StringIO()
    fig.tight_layout()
    fig.savefig(buffer, format="svg")
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _shade_faults(ax: Axes, run: RunData) -> None:
    for index, fault in enumerate(run.faults):
        ax.axvspan(
            fault.start_s,
            fault.end_s,
            color=_FAULT_COLOURS[index % len(_FAULT_COLOURS)],
            alpha=0.35,
            label=f"fault: {fault.label}",
        )
    for phase in run.phases[1:]:
        ax.axvline(phase.start_s, color="#999", linestyle=":", linewidth=0.8)


def _no_data(ax: Axes, what: str) -> None:
    ax.text(
        0.5,
        0.5,
        f"no {what} recorded in this run",
        ha="center",
        va="center",
        transform=ax.transAxes,
        color="#888",
    )
    ax.set_xticks([])
    ax.set_yticks([])


def plot_rps(run: RunData) -> str:
    fig, ax = figure()
    series = run.load_series
    if series:
        t = [p["t"] for p in series]
        ax.plot(t, [p.get("rps", 0) for p in series], label="achieved RPS", color="#1565c0")
        if any(p.get("target_rps") is not None for p in series):
            ax.plot(
                t,
                [p.get("target_rps") or 0 for p in series],
                label="target RPS",
                color="#555",
                linestyle="--",
            )
        dropped = [p.get("dropped", 0) for p in series]
        if any(dropped):
            ax.bar(t, dropped, width=1.0, color="#c62828", alpha=0.5, label="dropped arrivals")
        _shade_faults(ax, run)
        ax.set_xlabel("seconds since start")
        ax.set_ylabel("requests / s")
        ax.legend(loc="upper right", fontsize="small")
    else:
        _no_data(ax, "load")
    return svg(fig)


def plot_latency(run: RunData) -> str:
    fig, ax = figure()
    series = run.load_series
    if series:
        t = [p["t"] for p in series]
        for key, colour in (("p50_ms", "#2e7d32"), ("p95_ms", "#f9a825"), ("p99_ms", "#c62828")):
            ax.plot(
                t, [p.get(key) or 0 for p in series], label=key.replace("_ms", ""), color=colour
            )
        _shade_faults(ax, run)
        ax.set_xlabel("seconds since start")
        ax.set_ylabel("latency (ms)")
        ax.legend(loc="upper right", fontsize="small")
    else:
        _no_data(ax, "latency")
    return svg(fig)


def plot_errors(run: RunData) -> str:
    fig, ax = figure()
    series = run.load_series
    codes = sorted({code for p in series for code in (p.get("errors") or {})})
    if series and codes:
        t = [p["t"] for p in series]
        bottom = [0.0] * len(series)
        for code in codes:
            values = [float((p.get("errors") or {}).get(code, 0)) for p in series]
            ax.bar(t, values, bottom=bottom, width=1.0, label=str(code))
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        _shade_faults(ax, run)
        ax.set_xlabel("seconds since start")
        ax.set_ylabel("errors / s")
        ax.legend(title="status", loc="upper right", fontsize="small")
    else:
        _no_data(ax, "errors")
    return svg(fig)


def plot_tenants(run: RunData) -> str:
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.4), dpi=100)
    tenants = sorted(run.tenants)
    if tenants:
        x = range(len(tenants))
        width = 0.27
        for offset, key, colour in (
            (-width, "p50_ms", "#2e7d32"),
            (0, "p95_ms", "#f9a825"),
            (width, "p99_ms", "#c62828"),
        ):
            ax.bar(
                [i + offset for i in x],
                [run.tenants[t].get(key, 0) or 0 for t in tenants],
                width,
                label=key[:3],
                color=colour,
            )
        ax.set_xticks(list(x), tenants, rotation=30, ha="right", fontsize="small")
        ax.set_ylabel("latency (ms)")
        ax.legend(fontsize="small")
        ax2.bar(list(x), [run.tenants[t].get("throttled", 0) for t in tenants], color="#6a1b9a")
        ax2.set_xticks(list(x), tenants, rotation=30, ha="right", fontsize="small")
        ax2.set_ylabel("throttled (429)")
        for axis in (ax, ax2):
            axis.grid(True, alpha=0.3)
    else:
        _no_data(ax, "per-tenant results")
        _no_data(ax2, "throttles")
    return svg(fig)


def plot_queues(run: RunData) -> str:
    fig, ax = figure()
    series = run.queue_series
    names = sorted({n for p in series for n in (p.get("queues") or {})})
    dlqs = sorted({n for p in series for n in (p.get("dlqs") or {})})
    if series and (names or dlqs):
        t = [p["t"] for p in series]
        for name in names:
            ax.plot(
                t, [(p.get("queues") or {}).get(name, 0) for p in series], label=f"{name} depth"
            )
        for name in dlqs:
            ax.plot(
                t,
                [(p.get("dlqs") or {}).get(name, 0) for p in series],
                label=f"{name} (DLQ)",
                linestyle="--",
            )
        _shade_faults(ax, run)
        ax.set_xlabel("seconds since start")
        ax.set_ylabel("messages")
        ax.legend(loc="upper right", fontsize="small")
    else:
        _no_data(ax, "queue depths")
    return svg(fig)


def plot_lambda(run: RunData) -> str:
    fig, ax = figure()
    series = run.lambda_series
    functions = sorted({f for p in series for f in (p.get("functions") or {})})
    if series and functions:
        t = [p["t"] for p in series]
        for name in functions:
            values = [(p.get("functions") or {}).get(name, {}) for p in series]
            ax.plot(t, [v.get("concurrency", 0) for v in values], label=f"{name} concurrency")
            throttles = [v.get("throttles", 0) for v in values]
            colds = [v.get("cold_starts", 0) for v in values]
            if any(throttles):
                ax.plot(t, throttles, linestyle="--", label=f"{name} throttles/s")
            if any(colds):
                ax.plot(t, colds, linestyle=":", label=f"{name} cold starts/s")
        _shade_faults(ax, run)
        ax.set_xlabel("seconds since start")
        ax.legend(loc="upper right", fontsize="x-small")
    else:
        _no_data(ax, "Lambda metrics")
    return svg(fig)


PLOTS: list[tuple[str, str, Callable[[RunData], str]]] = [
    ("rps", "Requests per second (achieved vs target), fault windows shaded", plot_rps),
    ("latency", "Latency percentiles over time", plot_latency),
    ("errors", "Errors by status code", plot_errors),
    ("tenants", "Per-tenant latency and throttles", plot_tenants),
    ("queues", "Queue and DLQ depth", plot_queues),
    ("lambda", "Lambda concurrency, throttles and cold starts", plot_lambda),
]


def all_plots(run: RunData) -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []
    for name, caption, func in PLOTS:
        out.append((name, caption, func(run)))
    return out
