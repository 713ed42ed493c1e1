"""The video pipeline: what ClipQueue does with a video, run by the ``workers.queue`` engine.

* ``table``: the step order and the production step table;
* ``steps/``: one small module per step (download, transcript, content_type, clip_lookup,
  clip_generation), each a plain ``run(video, ctx) -> dict``;
* ``fetcher/``: the SSRF-guarded downloader (URL rules, guarded connections, yt-dlp,
  error classification);
* ``media``: ffprobe/ffmpeg helpers; ``whisper/``: engines, model cache, chunk planning,
  the checkpoint converter; ``llm/``: the local and OpenAI-compatible backends and the
  content-type taxonomy; ``clips/``: choosing clips and writing captions;
* ``storage``: the ``Storage`` protocol, local and S3; ``services``: the collaborators
  steps receive; ``process``: the one-shot ``process`` command.

Steps import from the engine only its step surface (``workers.queue.errors``,
``workers.queue.context``); CI checks it.
"""
