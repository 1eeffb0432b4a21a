"""Progress messages of the stages that stream a video through a model (`pose2d`, `detect`):
one log line at most every `every_s` seconds, and the closing message's first sentence."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from posebench.video import SlotSummary

Progress = Callable[[int, int], None]
"""Called after each batch with the number of frames so far and the last frame slot."""

RESULT_MESSAGE = (
    "%s: %d frames in %.1f s (%.1f frames/s) on %d frame slots (%d missing); %d frames "
    "without a person"
)
"""Logging format of the first sentence of a stage's closing message; `result_args` gives
its values."""


def result_args(
    video: Path, summary: SlotSummary, elapsed: float, without_person: int
) -> tuple[object, ...]:
    """The values of RESULT_MESSAGE: the video's name, the decoded frames, `elapsed` seconds
    and the frame rate, the frame slots and the missing ones, `without_person`."""
    decoded = summary.decoded
    return (
        video.name, decoded, elapsed, decoded / max(elapsed, 1e-9), summary.n_slots,
        summary.missing.size, without_person,
    )  # fmt: skip


class FrameProgress:
    """A `Progress` that logs "<video>: N frames decoded, up to slot S of T (R frames/s)" to
    `log` when at least `every_s` seconds passed since `started` or the last message (T is
    the header's frame count, R counts from `started`, a `time.monotonic()` value)."""

    def __init__(
        self,
        log: logging.Logger,
        video: Path,
        frame_count_header: int,
        every_s: float,
        started: float,
    ) -> None:
        self._log = log
        self._name = video.name
        self._total = frame_count_header
        self._every_s = every_s
        self._started = self._last = started

    def __call__(self, frames: int, last_slot: int) -> None:
        now = time.monotonic()
        if now - self._last >= self._every_s:
            self._log.info(
                "%s: %d frames decoded, up to slot %d of %d (%.1f frames/s)",
                self._name, frames, last_slot, self._total, frames / (now - self._started),
            )  # fmt: skip
            self._last = now
