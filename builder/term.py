"""Terminal output shared by every command: stage messages (say), durations, bars, number formatting, and a
one-line progress bar on stderr (a redrawn line on a terminal, a line every few seconds otherwise)."""

from __future__ import annotations

import sys
import time


def say(message: str) -> None:
    """A stage message, printed at once (builds and the demo run for minutes)."""
    print(f"[modelforge] {message}", flush=True)


def duration(value: float | None) -> str:
    if value is None:
        return "?"
    value = max(int(round(value)), 0)
    days, rest = divmod(value, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h {minutes}m"
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def fmt(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "-"
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
        return f"{value:.2e}"
    return f"{value:.{digits}g}"


def bar(fraction: float | None, width: int = 30) -> str:
    if fraction is None:
        return "[" + "?" * width + "]"
    filled = int(round(fraction * width))
    return "[" + "#" * filled + "-" * (width - filled) + "]"


class Progress:
    def __init__(self, total: int, done: int = 0, label: str = "", stream=None, every_s: float = 5.0):
        self.total = total
        self.done = done
        self.start_done = done
        self.failed = 0
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.every_s = every_s
        self.started = time.monotonic()
        self.last_line = 0.0

    def line(self) -> str:
        fraction = self.done / self.total if self.total else 1.0
        spent = time.monotonic() - self.started
        rate = (self.done - self.start_done) / spent if spent > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else None
        text = f"{self.label}{bar(fraction, 24)} {self.done}/{self.total} {fraction:4.0%}  {rate:.2f}/s"
        text += f"  ETA {duration(left)}" if left is not None and self.done < self.total else f"  {duration(spent)}"
        if self.failed:
            text += f"  failed {self.failed}"
        return text

    def update(self, done: int = 1, failed: int = 0) -> None:
        self.done += done
        self.failed += failed
        self.draw()

    def draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.tty:
            self.stream.write("\r\x1b[K" + self.line())
            self.stream.flush()
        elif force or now - self.last_line >= self.every_s or self.done >= self.total:
            self.stream.write(self.line() + "\n")
            self.stream.flush()
            self.last_line = now

    def close(self) -> None:
        if self.tty:
            self.stream.write("\r\x1b[K" + self.line() + "\n")
            self.stream.flush()
