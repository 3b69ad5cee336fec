"""The live view of a run: phase, elapsed/remaining, RPS (vs target), p99, errors, active faults.

On a terminal it is a rich ``Live`` panel redrawn every second; otherwise (CI logs, pipes) one
plain line every ``every`` seconds, so logs stay readable.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

__all__ = ["LiveView", "Snapshot"]


@dataclass
class Snapshot:
    phase: str = "-"
    elapsed_s: float = 0.0
    remaining_s: float = 0.0
    rps: float = 0.0
    target: float = 0.0
    p99_ms: float = 0.0
    errors: int = 0
    errors_total: int = 0
    requests: int = 0
    dropped_total: int = 0
    faults: list[str] = field(default_factory=list)
    note: str = ""


class LiveView:
    def __init__(
        self,
        title: str,
        *,
        stream: IO[str] | None = None,
        rich: bool | None = None,
        every: float = 5.0,
        faults: Callable[[], list[str]] | None = None,
    ) -> None:
        self.title = title
        self.stream = stream or sys.stderr
        self.rich = self.stream.isatty() if rich is None else rich
        self.every = every
        self.faults = faults or (lambda: [])
        self.snapshot = Snapshot()
        self._live: Any = None
        self._last_line = 0.0

    # -- lifecycle --------------------------------------------------------------------------

    def __enter__(self) -> LiveView:
        if self.rich:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(
                self._render(), console=Console(file=self.stream), refresh_per_second=2
            )
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.update(self._render())
            self._live.__exit__(None, None, None)
            self._live = None

    def message(self, text: str) -> None:
        """A line above the live panel (or a plain line)."""
        if self._live is not None:
            self._live.console.print(text)
        else:
            print(text, file=self.stream, flush=True)

    # -- updates ----------------------------------------------------------------------------

    def update(self, **values: Any) -> None:
        for key, value in values.items():
            setattr(self.snapshot, key, value)
        self.snapshot.faults = self.faults()
        if self._live is not None:
            self._live.update(self._render())
        elif time.monotonic() - self._last_line >= self.every:
            self._last_line = time.monotonic()
            print(self.line(), file=self.stream, flush=True)

    def line(self) -> str:
        s = self.snapshot
        faults = ", ".join(s.faults) or "none"
        return (
            f"[{s.phase}] {s.elapsed_s:5.0f}s elapsed, {s.remaining_s:4.0f}s left | "
            f"{s.rps:7.1f} rps (target {s.target:.0f}) | p99 {s.p99_ms:7.1f} ms | "
            f"errors {s.errors}/s ({s.errors_total} total) | dropped {s.dropped_total} | "
            f"faults: {faults}" + (f" | {s.note}" if s.note else "")
        )

    def _render(self) -> Any:
        from rich.panel import Panel
        from rich.table import Table

        s = self.snapshot
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        total = s.elapsed_s + s.remaining_s
        done = int(30 * s.elapsed_s / total) if total else 0
        table.add_row("phase", s.phase)
        table.add_row(
            "time",
            f"{'█' * done}{'░' * (30 - done)} {s.elapsed_s:.0f}s / {total:.0f}s "
            f"({s.remaining_s:.0f}s left)",
        )
        table.add_row("rps", f"{s.rps:.1f} (target {s.target:.1f})")
        table.add_row("p99", f"{s.p99_ms:.1f} ms")
        table.add_row(
            "errors",
            f"{s.errors}/s, {s.errors_total} of {s.requests} requests; dropped {s.dropped_total}",
        )
        table.add_row("faults", ", ".join(s.faults) if s.faults else "[green]none active[/green]")
        if s.note:
            table.add_row("note", s.note)
        return Panel(table, title=self.title, expand=False)
