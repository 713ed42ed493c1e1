"""The content-type taxonomy: the kinds of video the content_type step tells apart. Both LLM
backends answer with one of these; anything else is read as "other"."""
from __future__ import annotations

CONTENT_TYPES = ("podcast", "interview", "lecture", "tutorial", "news", "commentary", "vlog", "gaming",
                 "sports", "music", "audiobook", "speech", "film", "other")
