"""Test doubles for the network boundaries ClipQueue does not own, shared by tests/ and bench/:
an OpenAI-compatible server (``fake_openai``), a media host (``media_server``), the quiet
HTTP server both build on (``quiet_server``) and DNS resolvers (``dns``). Loopback only."""
