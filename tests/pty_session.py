"""Drive an interactive command through a real pseudo-terminal (the pty module; no pexpect needed)."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import time

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def default_sigint() -> None:
    """In a child about to exec: SIGINT as a user's terminal delivers it. A suite started in the background
    (`cmd &` in a script) inherits SIGINT ignored, and Python started so never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class PtySession:
    def __init__(self, argv: list[str], env: dict[str, str], cwd: str | None = None):
        pid, fd = pty.fork()
        if pid == 0:  # the child: its stdin/stdout/stderr are the terminal, as for a user
            try:
                if cwd:
                    os.chdir(cwd)
                default_sigint()
                os.execve(argv[0], argv, env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        self.output = ""  # everything read so far, raw (with colour codes)
        self.seen = 0
        self.status: int | None = None

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            return False
        if not data:
            return False
        self.output += data.decode(errors="replace")
        return True

    def expect(self, text: str, timeout: float = 60) -> str:
        """Wait until `text` appears after the previous match; returns what came before it (colour stripped)."""
        deadline = time.monotonic() + timeout
        while True:
            plain = ANSI.sub("", self.output)
            found = plain.find(text, self.seen)
            if found >= 0:
                before = plain[self.seen : found]
                self.seen = found + len(text)
                return before
            if time.monotonic() > deadline or not self._read(min(0.2, max(deadline - time.monotonic(), 0.01))):
                raise AssertionError(f"did not see {text!r} within {timeout} s; the terminal showed:\n{plain[-3000:]}")

    def send(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def wait(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._read(0.1)
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(status)
                return self.status
        self.close()
        raise AssertionError(f"the program did not exit within {timeout} s:\n{ANSI.sub('', self.output)[-2000:]}")

    def close(self) -> None:
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        try:
            os.close(self.fd)
        except OSError:
            pass
