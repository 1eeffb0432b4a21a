"""A minimal RIFF AVI writer for tests: MJPG frames, with chosen frames left as empty chunks.

Layout: RIFF 'AVI ' > LIST 'hdrl' (avih, LIST 'strl' (strh 'vids'/'MJPG', strf
BITMAPINFOHEADER)) > LIST 'movi' (one '00dc' chunk per frame slot, zero bytes for a dropped
frame) > idx1. This is how recorders mark dropped frames (OpenCap's LabValidation videos
have such chunks): the slot exists in the timeline, but holds no image.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

_KEYFRAME = 0x10  # AVIIF_KEYFRAME
_HAS_INDEX = 0x10  # AVIF_HASINDEX


def _chunk(fourcc: bytes, data: bytes) -> bytes:
    """A RIFF chunk: id, little-endian size, data, padded to an even length."""
    return fourcc + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b"")


def _list(kind: bytes, payload: bytes) -> bytes:
    return b"LIST" + struct.pack("<I", len(payload) + 4) + kind + payload


def encode_jpeg(frame_bgr: npt.NDArray[np.uint8], quality: int = 95) -> bytes:
    ok, data = cv2.imencode(".jpg", frame_bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok, "JPEG encoding failed"
    return bytes(data.tobytes())


def write_mjpg_avi(
    path: Path,
    frames_bgr: Sequence[npt.NDArray[np.uint8] | None],
    fps: float,
    *,
    header_frames: int | None = None,
    quality: int = 95,
) -> Path:
    """Write one '00dc' chunk per slot of `frames_bgr` (BGR uint8 images, all one size; None
    for an empty chunk, i.e. a dropped frame) at `fps`. The headers declare `header_frames`
    frames (default: the number of slots)."""
    images = [f for f in frames_bgr if f is not None]
    assert images, "at least one frame must hold an image"
    height, width = images[0].shape[:2]
    count = len(frames_bgr) if header_frames is None else header_frames
    rate = Fraction(fps).limit_denominator(1001)
    scale, numerator = rate.denominator, rate.numerator
    avih = struct.pack(
        "<14I",
        round(1e6 / fps),  # microseconds per frame
        0,  # max bytes per second
        0,  # padding granularity
        _HAS_INDEX,
        count,  # total frames
        0,  # initial frames
        1,  # streams
        0,  # suggested buffer size
        width,
        height,
        0, 0, 0, 0,  # reserved
    )  # fmt: skip
    strh = b"vids" + b"MJPG" + struct.pack(
        "<IHHIIIIIIIIhhhh",
        0,  # flags
        0,  # priority
        0,  # language
        0,  # initial frames
        scale,
        numerator,  # rate / scale = fps
        0,  # start
        count,  # length, in frames
        0,  # suggested buffer size
        0xFFFFFFFF,  # quality: default
        0,  # sample size: varies
        0, 0, width, height,  # frame rectangle
    )  # fmt: skip
    strf = struct.pack(
        "<IiiHHIIiiII",
        40,  # header size
        width,
        height,
        1,  # planes
        24,  # bits per pixel
        struct.unpack("<I", b"MJPG")[0],
        width * height * 3,
        0, 0, 0, 0,  # resolution and palette
    )  # fmt: skip
    header = _list(
        b"hdrl",
        _chunk(b"avih", avih) + _list(b"strl", _chunk(b"strh", strh) + _chunk(b"strf", strf)),
    )
    movi = b""
    index = b""
    for frame in frames_bgr:
        data = b"" if frame is None else encode_jpeg(frame, quality)
        offset = 4 + len(movi)  # from the 'movi' fourcc
        movi += _chunk(b"00dc", data)
        index += b"00dc" + struct.pack("<III", _KEYFRAME if data else 0, offset, len(data))
    body = b"AVI " + header + _list(b"movi", movi) + _chunk(b"idx1", index)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path
