"""Whisper: the engines (``engines``), the model cache (``models``), chunk planning
(``chunks``) and the openai-whisper checkpoint converter (``convert``)."""
