"""A one-line progress bar on stderr (a redrawn line on a terminal, a line every few seconds otherwise)."""

from __future__ import annotations

import sys
import time

from .monitor import bar, duration


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
