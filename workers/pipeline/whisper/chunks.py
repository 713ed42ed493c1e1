"""Chunk planning: long audio is transcribed in chunks cut at quiet moments, so that no
word is cut in two and memory does not grow with the video's length."""
from __future__ import annotations

from workers.pipeline.whisper.engines import SAMPLE_RATE


def plan_chunks(audio_or_total, chunk_s: float, window=None) -> list[tuple[int, int]]:
    """Sample ranges of about ``chunk_s`` seconds, each boundary moved to the quietest
    half second within 10 % of the chunk length around it. Takes the samples, or their
    count and ``window(lo, hi)`` that decodes just the samples around a boundary."""
    import numpy as np

    if window is None:
        audio = audio_or_total
        n, window = len(audio), (lambda lo, hi: audio[lo:hi])
    else:
        n = int(audio_or_total)
    size = int(chunk_s * SAMPLE_RATE)
    if n <= size * 1.25:
        return [(0, n)]
    frame = SAMPLE_RATE // 2
    bounds, start = [], 0
    while n - start > size * 1.25:
        target = start + size
        reach = int(size * 0.1)
        lo, hi = max(start + frame, target - reach), min(n - frame, target + reach)
        samples = window(lo, hi)
        frames = len(samples) // frame
        if frames:
            energy = (samples[: frames * frame].reshape(frames, frame) ** 2).mean(axis=1)
            cut = lo + int(np.argmin(energy)) * frame + frame // 2
        else:
            cut = target
        bounds.append((start, cut))
        start = cut
    bounds.append((start, n))
    return bounds
