"""Clips: choosing them from a transcript (``choosing``) and their captions (``captions``)."""
