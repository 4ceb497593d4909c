"""Progress of long jobs (ingest, index, eval, demo) for people watching a terminal or reading a log.

Why: ``paperboy index`` over 240 k papers ran for an hour without a line of output, so nobody could tell working
from stuck.  Jobs report ``(stage, done, total)`` through a plain callback (:data:`ProgressFn`), so the pipeline
knows nothing about terminals; :class:`ProgressReporter` turns those calls into a tqdm bar on a terminal, or into
one plain line every few seconds otherwise (a log file, systemd, a pipe), each with the count, rate and ETA.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import IO, Any

#: ``progress(stage, n, total)``: ``n`` more items of ``stage`` are done; ``total`` is the stage's size when known.
#: A call with ``n == 0`` announces a stage (and its total) before its first item.
ProgressFn = Callable[[str, int, int | None], None]


def duration(seconds: float) -> str:
    """Compact human duration: ``42s``, ``3m05s``, ``1h02m``."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class ProgressReporter:
    """A :data:`ProgressFn` that draws tqdm bars on a terminal and writes plain lines elsewhere.

    Plain lines (``index: 12,000 of 240,000 papers, 210/s, ETA 18m10s``) come at most every ``every`` seconds per
    stage, plus one when a stage starts and one when it ends, so a log shows progress without flooding.
    """

    def __init__(self, stream: IO[str] | None = None, *, every: float = 5.0, tty: bool | None = None,
                 units: dict[str, str] | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        """``units`` names what each stage counts, by stage name or its first word (``queries`` covers
        ``queries dense``); default ``records`` for ingest, none for ``model`` (a step: only its time is shown),
        ``papers`` otherwise."""
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.every = every
        self.units = {"ingest": "records", "model": "", **(units or {})}
        self.clock = clock
        self.stage: str | None = None
        self.done = 0
        self.total: int | None = None
        self._start = self._last_line = 0.0
        self._bar: Any = None

    @property
    def unit(self) -> str:
        stage = self.stage or ""
        return self.units.get(stage) or self.units.get(stage.split(" ", 1)[0], "papers")

    def __call__(self, stage: str, n: int, total: int | None = None) -> None:
        if stage != self.stage:
            self.close()
            self.stage, self.done, self.total = stage, 0, total
            self._start = self._last_line = self.clock()
            if self.tty:
                from tqdm import tqdm

                self._bar = tqdm(desc=stage, total=total, unit=f" {self.unit}", file=self.stream, dynamic_ncols=True)
            else:
                self._line()
        if total is not None and total != self.total:
            self.total = total
            if self._bar is not None:
                self._bar.total = total
                self._bar.refresh()
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
        elif self.total is not None and self.done >= self.total:
            self.close()  # now, not when the next stage starts: its set-up (loading a model) is not this stage's
        elif self.clock() - self._last_line >= self.every:
            self._line()

    def _line(self, final: bool = False) -> None:
        now = self.clock()
        self._last_line = now
        elapsed = now - self._start
        if not self.unit:  # a step without a count
            print(f"{self.stage}: done in {duration(elapsed)}" if final else f"{self.stage} ...", file=self.stream,
                  flush=True)
            return
        text = f"{self.stage}: {self.done:,}"
        if self.total is not None and not final:
            text += f" of {self.total:,}"
        text += f" {self.unit}"
        if final:
            text += f" in {duration(elapsed)}"
        if elapsed > 0 and self.done:
            rate = self.done / elapsed
            text += f", {rate:,.0f}/s" if rate >= 10 else f", {rate:.1f}/s"
            if not final and self.total is not None and self.total > self.done:
                text += f", ETA {duration((self.total - self.done) / rate)}"
        print(text, file=self.stream, flush=True)

    def close(self) -> None:
        """End the current stage (a final line or a closed bar); the next call starts a new one."""
        if self.stage is None:
            return
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        else:
            self._line(final=True)
        self.stage = None
