"""The LLM backends: ``local`` (offline), ``openai_compat`` (any OpenAI-compatible server),
and the content-type taxonomy both answer in (``taxonomy``)."""
