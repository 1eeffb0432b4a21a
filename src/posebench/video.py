"""Stream frames from a video file, each on its frame slot, without holding the video in
memory, in batches, decoded ahead in a background thread (`prefetch_batches`: a bounded
number of frames ahead, so that memory stays a few frames above what the model holds).

Frame slots: slot j of a video is the frame at t = j / fps (fps from the container
header). A recorder that drops a frame can leave its slot empty (e.g. a zero-size chunk in
an MJPG AVI, as in OpenCap's LabValidation videos), so decoded frame i is not always slot i.
`iter_frame_slots` places each decoded frame on slot round(t * fps), t being the frame's
timestamp (OpenCV's CAP_PROP_POS_MSEC right after the frame is read). Slots strictly
increase: a frame landing on the slot of the frame before it (variable frame rate) is
dropped, keeping the first (counted and logged). A container without usable timestamps
(not finite, negative or not increasing, e.g. stuck at 0) falls back to decode order, with
a warning naming the file. A video has `slot_count` = max(header frame count, last decoded
slot + 1) slots; the slots without a frame are "missing" (`check_decoded_frames` logs
them). Downstream arrays have one row per slot, missing slots NaN with score 0.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import cv2
import numpy as np
import numpy.typing as npt

T = TypeVar("T")

Frame = npt.NDArray[np.uint8]
"""A decoded RGB frame, uint8 (H, W, 3)."""
SlotBatch = Sequence[tuple[int, Frame]]
"""Consecutive decoded frames with their frame slots: (slot, RGB uint8 (H, W, 3) frame)."""
log = logging.getLogger(__name__)

MISSING_SLOTS_LISTED = 100  # missing slot indices recorded in output metadata
MISSING_SLOTS_LOGGED = 10  # missing slot indices named in the warning
MAX_SLOTS_PER_FRAME = 4  # beyond the header, more slots than this per decoded frame: an error


class VideoError(RuntimeError):
    """A video is missing, unreadable or inconsistent; the message names the file."""


@dataclass(frozen=True)
class VideoInfo:
    """What the container header says. `frame_count_header` can over-count."""

    path: Path
    fps: float
    frame_count_header: int
    width: int
    height: int


def probe_video(path: Path) -> VideoInfo:
    """Read the container header of `path`; raise VideoError if it cannot be opened."""
    if not path.is_file():
        raise VideoError(f"Video not found: {path}. Check the dataset path in config/config.yaml.")
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise VideoError(
                f"Cannot open video {path}: not a video OpenCV can decode (truncated, corrupt "
                "or an unsupported codec). Replace it with the camera's original recording."
            )
        fps = float(capture.get(cv2.CAP_PROP_FPS))
        info = VideoInfo(
            path=path,
            fps=fps,
            frame_count_header=int(capture.get(cv2.CAP_PROP_FRAME_COUNT)),
            width=int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            height=int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        )
    finally:
        capture.release()
    if not np.isfinite(fps) or fps <= 0:
        raise VideoError(f"Video {path} reports a frame rate of {fps!r}; expected > 0.")
    if info.width <= 0 or info.height <= 0:
        raise VideoError(f"Video {path} reports an image size of {info.width}x{info.height}.")
    return info


@dataclass
class SlotStats:
    """What `iter_frame_slots` saw, filled in while it runs (read it once iteration ended).

    `slots` is the slot of each yielded frame (strictly increasing); `decoded` counts every
    frame the decoder returned, including the `duplicates` dropped because their slot was
    already taken. `timestamps` is False once the container's timestamps proved unusable
    (`fallback_at`: the decoded frame where that happened) and frames were placed in
    decode order from there on.
    """

    decoded: int = 0
    slots: list[int] = field(default_factory=list)
    duplicates: int = 0
    timestamps: bool = True
    fallback_at: int | None = None


@dataclass(frozen=True)
class SlotSummary:
    """The frame slots of one decoded video (see the module docstring).

    `slots` holds the slot of each decoded frame in order, `missing` the slots without a
    frame; `n_slots` = max(header frame count, last decoded slot + 1).
    """

    path: Path
    n_slots: int
    slots: npt.NDArray[np.intp]
    missing: npt.NDArray[np.intp]
    duplicates: int
    timestamps: bool
    frame_count_header: int

    @property
    def decoded(self) -> int:
        """Frames placed on a slot."""
        return int(self.slots.size)

    def on_slots(self, rows: npt.ArrayLike, fill: float) -> npt.NDArray[np.float32]:
        """Per-frame `rows` (one per decoded frame, in order) placed on their slots: an
        (n_slots, ...) float32 array holding `fill` on the missing slots."""
        values = np.asarray(rows, dtype=np.float32)
        if values.shape[0] != self.slots.size:
            raise ValueError(
                f"{self.path}: {values.shape[0]} rows for {self.slots.size} decoded frames."
            )
        placed = np.full((self.n_slots, *values.shape[1:]), fill, dtype=np.float32)
        placed[self.slots] = values
        return placed

    def metadata(self) -> dict[str, Any]:
        """JSON-ready record for output files: the slot count, the number of missing slots
        and the first MISSING_SLOTS_LISTED of their indices, how slots were assigned."""
        return {
            "n_slots": self.n_slots,
            "decoded_frames": self.decoded,
            "missing_slots": int(self.missing.size),
            "missing_slot_indices": self.missing[:MISSING_SLOTS_LISTED].tolist(),
            "duplicate_frames_dropped": self.duplicates,
            "slot_source": "timestamps" if self.timestamps else "decode_order",
            "frame_count_header": self.frame_count_header,
        }


def slot_count(frame_count_header: int, last_slot: int) -> int:
    """Number of frame slots of a video: the header's frame count defines them, unless
    frames decode beyond it (a header that under-counts, or says 0)."""
    return max(frame_count_header, last_slot + 1, 0)


def check_decoded_frames(info: VideoInfo, stats: SlotStats) -> SlotSummary:
    """The slots of a video once `iter_frame_slots` has gone through it (`stats`).

    Raises VideoError if no frame decoded, or if the timestamps place frames implausibly
    far beyond the header's count. Logs a warning naming the empty (missing) slots.
    """
    path = info.path
    if not stats.slots:
        raise VideoError(
            f"No frame of {path} could be decoded; the file is empty or corrupt. Replace "
            "it with the camera's original recording."
        )
    slots = np.asarray(stats.slots, dtype=np.intp)
    if np.any(np.diff(slots) <= 0) or slots[0] < 0:
        raise VideoError(f"{path}: frame slots must be >= 0 and strictly increasing.")
    last = int(slots[-1])
    n_slots = slot_count(info.frame_count_header, last)
    if n_slots > max(info.frame_count_header, MAX_SLOTS_PER_FRAME * slots.size):
        raise VideoError(
            f"{path}: the frame timestamps place decoded frame {slots.size - 1} at slot {last} "
            f"(t = {last / info.fps:.3f} s at {info.fps:g} fps), but only {slots.size} frames "
            f"decode and the header says {info.frame_count_header}: the timestamps are "
            "implausible. Re-encode the video with a constant frame rate or replace it with "
            "the camera's original recording."
        )
    if last + 1 > info.frame_count_header:
        log.warning(
            "%s: frames decode up to slot %d but the container header says %d frames; "
            "using %d slots.",
            path, last, info.frame_count_header, n_slots,
        )  # fmt: skip
    filled = np.zeros(n_slots, dtype=bool)
    filled[slots] = True
    missing = np.flatnonzero(~filled).astype(np.intp)
    if missing.size:
        shown = ", ".join(str(int(s)) for s in missing[:MISSING_SLOTS_LOGGED])
        more = ", ..." if missing.size > MISSING_SLOTS_LOGGED else ""
        log.warning(
            "%s: %d of %d frame slots are empty (dropped frames; slots %s%s); they hold NaN "
            "keypoints and score 0.",
            path, missing.size, n_slots, shown, more,
        )  # fmt: skip
    return SlotSummary(
        path=path,
        n_slots=n_slots,
        slots=slots,
        missing=missing,
        duplicates=stats.duplicates,
        timestamps=stats.timestamps,
        frame_count_header=info.frame_count_header,
    )


def iter_frame_slots(
    path: Path, stats: SlotStats | None = None, info: VideoInfo | None = None
) -> Iterator[tuple[int, npt.NDArray[np.uint8]]]:
    """Yield (slot, RGB uint8 (H, W, 3) frame) for the decodable frames of `path`, slots
    strictly increasing (see the module docstring). `stats`, if given, is filled in. `info`
    is the header of `path` (`probe_video`), read here when not given. A frame whose size is
    not the header's is a VideoError."""
    if info is None:
        info = probe_video(path)
    stats = SlotStats() if stats is None else stats
    capture = cv2.VideoCapture(str(path))
    previous_msec = -math.inf
    last_slot = -1
    try:
        while True:
            ok, frame_bgr = capture.read()
            if not ok:
                break
            index = stats.decoded
            stats.decoded += 1
            if stats.timestamps:
                msec = float(capture.get(cv2.CAP_PROP_POS_MSEC))
                if math.isfinite(msec) and msec >= 0 and msec > previous_msec:
                    previous_msec = msec
                    slot = round(msec / 1000.0 * info.fps)
                else:
                    stats.timestamps = False
                    stats.fallback_at = index
                    log.warning(
                        "%s: no usable frame timestamps (CAP_PROP_POS_MSEC is %r at decoded "
                        "frame %d, after %r); placing frames in decode order from slot %d on. "
                        "Dropped frames cannot be located in this video: later frames may be "
                        "placed early.",
                        path, msec, index, previous_msec, last_slot + 1,
                    )  # fmt: skip
            if not stats.timestamps:
                slot = last_slot + 1
            if slot <= last_slot:  # variable frame rate: two frames in one slot
                stats.duplicates += 1
                continue
            if frame_bgr.shape[:2] != (info.height, info.width):
                raise VideoError(
                    f"{path}: frame slot {slot} is {frame_bgr.shape[1]}x{frame_bgr.shape[0]}, "
                    f"header says {info.width}x{info.height}."
                )
            last_slot = slot
            stats.slots.append(slot)
            frame = np.asarray(cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)
            del frame_bgr  # neither frame is kept here while the consumer has it
            yield slot, frame
            del frame
    finally:
        capture.release()
    if stats.duplicates:
        log.warning(
            "%s: %d decoded frames fell on a slot already taken by the previous frame "
            "(variable frame rate?); kept the first frame of each slot.",
            path, stats.duplicates,
        )  # fmt: skip


def prefetch(items: Iterable[T], depth: int = 3) -> Generator[T, None, None]:
    """Iterate over `items` while a background thread produces up to `depth` items ahead
    (decoding overlaps inference). Exceptions of the producer are raised here; stopping
    early stops the producer and closes its iterator (releasing e.g. the video file)."""
    if depth < 1:
        raise ValueError(f"prefetch depth must be >= 1, got {depth}")
    buffer: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(kind: str, value: Any) -> bool:
        while not stop.is_set():
            try:
                buffer.put((kind, value), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        iterator: Iterator[T] | None = None
        try:
            iterator = iter(items)
            for item in iterator:
                if not put("item", item):
                    return
                del item  # not kept while the next one is produced
            put("end", None)
        except BaseException as error:  # handed to the consumer, raised there
            put("error", error)
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="posebench-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = buffer.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
            del value  # not kept while the next one is awaited
    finally:
        stop.set()
        thread.join()


def prefetch_batches(
    items: Iterable[T], batch_size: int, ahead: int
) -> Generator[list[T], None, None]:
    """Consecutive lists of `batch_size` items of `items` (the last one may be shorter),
    while a background thread produces the items one by one, at most `ahead` items ahead.

    Besides the batches the caller still holds, at most `batch_size` (the batch being
    filled) + `ahead` (queued) + 1 (the item the producer holds while the queue is full)
    items exist at once: with frames, memory stays a few frames above what the model
    needs, while decoding still overlaps inference (`ahead` = `batch_size` has the next
    batch ready when the model finishes one). Exceptions of the producer are raised here
    (the batch being filled is lost); closing this generator stops the producer and closes
    `items` (releasing e.g. the video file).
    """
    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")
    queued = prefetch(items, depth=ahead)
    try:
        yield from batched(queued, batch_size)
    finally:
        queued.close()


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of `size` items (the last one may be shorter)."""
    if size < 1:
        raise ValueError(f"batch size must be >= 1, got {size}")
    batch: list[T] = []
    for item in items:
        batch.append(item)
        del item  # only the batch holds it: freed with it
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
