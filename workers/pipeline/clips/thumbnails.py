"""Which frame of a clip makes its thumbnail: a face if there is one (the bigger the
better), sharp, well exposed, and away from the clip's edges and changes of shot (where
fades, black frames and half-dissolved pictures are). The frame is then taken from the
rendered clip itself, so the thumbnail has the clip's aspect, framing and size."""
from __future__ import annotations

from workers.pipeline.clips.tracking import Analysis, hard_cuts

EDGE_S = 0.5        # fades in and out live here
NEAR_CUT_S = 0.3    # a dissolve or a cut's first frames
DARK, BRIGHT = 40.0, 215.0   # mean grey outside this: a black, faded or blown-out frame
FLAT = 20.0         # grey levels' spread below this: a flat frame (a title fading, a wall)


def best_time(analysis: Analysis | None, duration: float) -> float:
    """Seconds into the clip of the frame to use (the middle when nothing qualifies)."""
    if analysis is None or not analysis.samples:
        return duration / 2
    fps = analysis.fps or 25.0
    cuts = [k / fps for k in hard_cuts(analysis.diffs)]
    fair = [s for s in analysis.samples
            if (EDGE_S <= s.t <= duration - EDGE_S or duration <= 2 * EDGE_S)
            and DARK <= s.mean <= BRIGHT and s.spread >= FLAT
            and all(abs(s.t - c) >= NEAR_CUT_S for c in cuts)]
    if not fair:
        return duration / 2
    sharpest = max(s.sharpness for s in fair) or 1.0

    def score(s) -> float:
        face = max((w for _, w in s.faces), default=0.0)
        return (1.0 if s.faces else 0.0) + (s.sharpness / sharpest) * (1.0 + 3.0 * face)
    return max(fair, key=score).t
