"""Clip output: the requested frame (a centre crop to 9:16, 1:1 or 4:5) and captions burned
into the picture with the spoken word highlighted, in the font that ships with the project,
all in one ffmpeg pass per clip."""
from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest

from workers.pipeline.clips.captions import ass
from workers.pipeline.clips.framing import frame_for
from workers.pipeline.media import ffmpeg_binary, probe
from workers.pipeline.steps import clip_generation
from workers.pipeline.storage import video_key

from .test_api import assert_error, client, app  # noqa: F401 - fixtures

WORDS = "This audiobook is in the public domain you can find the text".split()


def staged(step_ctx, media, settings=None, **options):
    """(video, ctx) for clip_generation on manifesto.mp4 (320x180), one 5 s clip of spoken words."""
    source = media / "manifesto.mp4"
    video, ctx = step_ctx("clip_generation", options=options, **(settings or {}), checkpoints={
        "download": {"output": {"key": video_key(1, "download", "source"), "video_codec": "h264",
                                "width": 320, "height": 180, "duration": 88.0}},
        "clip_lookup": {"output": {"clips": [{
            "rank": 1, "start": 1.0, "end": 6.0, "duration": 5.0, "title": "t", "text": " ".join(WORDS),
            "words": [{"word": w, "start": 1.0 + i * 0.4, "end": 1.0 + i * 0.4 + 0.35, "space": True}
                      for i, w in enumerate(WORDS)]}]}}})
    ctx.services["storage"].put_file(video_key(1, "download", "source"), source)
    return video, ctx


def render(step_ctx, media, settings=None, **options):
    video, ctx = staged(step_ctx, media, settings, **options)
    out = clip_generation.run(video, ctx)
    [clip] = out["clips"]
    return clip["files"], ctx.services["storage"]


@pytest.mark.parametrize("aspect,size", [("original", (320, 180)), ("9:16", (404, 720)), ("1:1", (720, 720)),
                                         ("4:5", (576, 720))])
def test_clips_have_the_requested_frame(step_ctx, media, aspect, size):
    files, storage = render(step_ctx, media, aspect=aspect)
    info = probe(storage.local_path(files["media"]))
    assert (info.width, info.height) == size


def frame_at(path, seconds: float, width: int, height: int) -> np.ndarray:
    raw = subprocess.run([ffmpeg_binary(None), "-loglevel", "error", "-ss", f"{seconds}", "-i", str(path),
                          "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-"], capture_output=True,
                         check=True).stdout
    return np.frombuffer(raw, dtype=np.uint8).reshape(height, width).astype(np.int16)


def test_burned_captions_are_in_the_picture_and_nowhere_else(step_ctx, media, tmp_path):
    plain_files, storage = render(step_ctx, media, aspect="9:16", captions="none")
    plain = storage.local_path(plain_files["media"])
    assert set(plain_files) == {"media", "thumbnail"}  # captions "none": no caption files
    (tmp_path / "plain.mp4").write_bytes(plain.read_bytes())
    storage.delete(plain_files["media"])  # the same clip again, with its captions burned in
    burned_files, _ = render(step_ctx, media, aspect="9:16", captions="burned")
    assert {"srt", "vtt"} <= set(burned_files)  # the files come too
    burned = storage.local_path(burned_files["media"])
    a, b = frame_at(tmp_path / "plain.mp4", 1.5, 404, 720), frame_at(burned, 1.5, 404, 720)
    diff = np.abs(a - b)
    band = diff[int(720 * 0.62):int(720 * 0.82)]  # where a tall frame's captions sit (20 % up from the bottom)
    top = diff[: int(720 * 0.4)]
    assert band.mean() > 4 * max(top.mean(), 0.5), (band.mean(), top.mean())
    assert (band > 60).mean() > 0.02  # strokes of text, not encoder noise


def test_each_caption_event_highlights_the_word_being_spoken():
    clip = {"start": 10.0, "words": [{"word": w, "start": 10 + i * 0.5, "end": 10 + i * 0.5 + 0.4}
                                     for i, w in enumerate(["one", "{two}", "three", "four", "five", "six"])]}
    script = ass(clip, 1080, 1920)
    assert "PlayResX: 1080" in script and "DejaVu Sans" in script
    events = [line for line in script.splitlines() if line.startswith("Dialogue:")]
    assert len(events) == 6  # one per word
    starts = [re.match(r"Dialogue: 0,([^,]+),([^,]+),", e).groups() for e in events]
    assert starts[0] == ("0:00:00.00", "0:00:00.50") and starts[4][0] == "0:00:02.00"
    for event, word in zip(events, ["one", "(two)", "three", "four", "five", "six"]):
        assert re.search(r"\{\\c&H[0-9A-F]+&\}" + re.escape(word) + r"\{\\r\}", event)  # that word, highlighted
        assert event.count("{\\c") == 1
    lines = [re.sub(r"\{[^}]*\}", "", event.split(",,", 1)[1].split(",", 4)[-1]) for event in events]
    assert lines[0] == lines[3] == "one (two) three four" and lines[4] == "five six"  # short lines, 4 words


def test_frames_keep_the_shape_and_even_sizes():
    for width, height in [(1920, 1080), (1280, 720), (320, 180), (1080, 1920), (641, 359)]:
        for aspect, (rw, rh) in {"9:16": (9, 16), "1:1": (1, 1), "4:5": (4, 5)}.items():
            frame = frame_for(aspect, width, height)
            assert frame.crop_w <= width and frame.crop_h <= height
            assert abs(frame.crop_w / frame.crop_h - rw / rh) < 0.03
            assert frame.out_w % 2 == 0 and frame.out_h % 2 == 0 and 720 <= frame.out_h <= 1920


def test_the_api_takes_the_options_and_refuses_others(client, db):  # noqa: F811
    assert_error(client.post("/public/video", json={"url": "http://example.com/a.mp4", "aspect": "16:9"}), 400,
                 "invalid_aspect")
    assert_error(client.post("/public/video", json={"url": "http://example.com/a.mp4", "captions": "yes"}), 400,
                 "invalid_captions")
    assert client.post("/public/video", json={"url": "http://example.com/a.mp4", "aspect": "9:16",
                                              "captions": "burned"}).status_code == 202
    options = db.execute("SELECT options FROM video_processing_queue").fetchone()["options"]
    assert options == {"aspect": "9:16", "captions": "burned"}
    # the defaults are not stored: the same URL with them spelled out is the same request
    assert client.post("/public/video", json={"url": "http://example.com/b.mp4", "aspect": "original",
                                              "captions": "files"}).status_code == 202
    assert client.post("/public/video", json={"url": "http://example.com/b.mp4"}).get_json()["created"] is False


# ---------------------------------------------------------------- following the subject
def bright_spot(grey):
    """A stand-in detector for a synthetic target: the centre of the brightest pixels."""
    columns = np.nonzero((grey > 200).any(axis=0))[0]
    return None if len(columns) == 0 else float(columns.mean() + 0.5) / grey.shape[1]


def moving_target(tmp_path):
    """8 s at 640x360: a white box crossing left to right at 60 px/s, shaking +-6 px at 3 Hz."""
    out = tmp_path / "target.mp4"
    scene = ("color=black:s=640x360:r=25:d=8[bg];color=white:s=40x60:r=25:d=8[box];"
             "[bg][box]overlay=x='60+t*60+6*sin(t*19)':y=150[v]")
    subprocess.run([ffmpeg_binary(None), "-loglevel", "error", "-y", "-f", "lavfi", "-i", "sine=f=300:d=8",
                    "-filter_complex", scene, "-map", "[v]", "-map", "0:a", "-shortest", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", "-c:a", "aac", str(out)], check=True)
    return out


def test_the_crop_follows_a_moving_subject_smoothly(step_ctx, media, tmp_path):
    from workers.pipeline.clips import tracking

    src = moving_target(tmp_path)
    samples = tracking.sample(ffmpeg_binary(None), src, 0.0, 8.0, 640, 360, bright_spot)
    frame = frame_for("9:16", 640, 360)
    points = tracking.path(samples, frame.crop_w / 640)
    lefts = [left * 640 for _, left in points]
    speeds = [abs(b - a) / (t1 - t0) for (t0, _), (t1, _), a, b in zip(points, points[1:], lefts, lefts[1:])]
    assert max(speeds) <= tracking.MAX_SPEED * 640 + 1  # bounded speed: no jumps without a scene change
    turns = sum(1 for a, b, c in zip(lefts, lefts[1:], lefts[2:]) if (b - a) * (c - b) < 0)
    assert turns == 0  # the shake stays in the dead zone: the window never swings back
    assert lefts[-1] - lefts[0] > 200  # and it did follow the subject across the frame
    # The rendered clip keeps the subject in the picture all along.
    video, ctx = step_ctx("clip_generation", options={"aspect": "9:16", "captions": "none"}, checkpoints={
        "download": {"output": {"key": video_key(1, "download", "source"), "video_codec": "h264",
                                "width": 640, "height": 360, "duration": 8.0}},
        "clip_lookup": {"output": {"clips": [{"rank": 1, "start": 0.0, "end": 8.0, "duration": 8.0, "text": "x",
                                              "words": [{"word": "x", "start": 0.1, "end": 0.4}]}]}}})
    ctx.services["storage"].put_file(video_key(1, "download", "source"), src)
    ctx.services["subject_detector"] = bright_spot
    [clip] = clip_generation.run(video, ctx)["clips"]
    rendered = ctx.services["storage"].local_path(clip["files"]["media"])
    info = probe(rendered)
    for t in (1.0, 3.0, 5.0, 7.0):
        picture = frame_at(rendered, t, info.width, info.height)
        assert (picture > 200).any(), f"the subject left the picture at {t} s"


def test_a_scene_change_moves_the_window_at_once_and_no_subject_keeps_it_centred():
    from workers.pipeline.clips.tracking import Sample, path

    shot = [Sample(t / 2, 0.2, False) for t in range(6)] + [Sample(3.0 + t / 2, 0.85, t == 0) for t in range(4)]
    points = path(shot, 0.3)
    assert points[5][1] == pytest.approx(0.05) and points[6][1] == pytest.approx(0.7)  # the cut: one step
    assert all(left == 0.35 for _, left in path([Sample(t, None, False) for t in range(5)], 0.3))


def test_without_a_face_the_whole_frame_sits_over_a_blurred_fill_or_is_centre_cropped(step_ctx, media, tmp_path):
    # The Manifesto is a title card: no face to follow. Its frame at 3 s, fitted to 404 px wide.
    fitted = subprocess.run([ffmpeg_binary(None), "-loglevel", "error", "-ss", "3", "-i", str(media / "manifesto.mp4"),
                             "-frames:v", "1", "-vf", "scale=404:228", "-f", "rawvideo", "-pix_fmt", "gray", "-"],
                            capture_output=True, check=True).stdout
    source = np.frombuffer(fitted, dtype=np.uint8).reshape(228, 404).astype(np.int16)
    pictures = {}
    for layout in ("blur", "centre"):
        files, storage = render(step_ctx, media, {"no_subject_frame": layout}, aspect="9:16", captions="none")
        pictures[layout] = frame_at(storage.local_path(files["media"]), 2.0, 404, 720)  # 1 s + 2 s = 3 s
        storage.delete(files["media"])
    blur, centre = pictures["blur"], pictures["centre"]
    middle = slice((720 - 228) // 2, (720 - 228) // 2 + 228)
    assert np.abs(blur[middle] - source).mean() < 10  # the whole card, edge to edge, in the middle
    assert np.abs(centre[middle] - source).mean() > 2 * np.abs(blur[middle] - source).mean()  # a crop is not

    def sharpness(picture):
        return float(np.abs(np.diff(picture, axis=1)).mean())
    assert sharpness(blur[:200]) < sharpness(blur[middle]) / 2  # above it: soft, a blurred fill
    assert blur[:200].mean() > 25 and blur[:200].std() > 2  # and not black bars (the card's sides are black)


def test_without_a_face_the_haar_detector_finds_none():
    from workers.pipeline.clips.tracking import haar_faces

    assert haar_faces()(np.zeros((180, 320), dtype=np.uint8)) is None
