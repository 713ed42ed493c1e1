"""Resumable uploads (tus 1.0): the ``uploads`` table's statements (``store``) and the chunk
objects in storage (``chunks``). The HTTP side is ``server/uploads.py``; a finished upload
becomes a video whose download step assembles and registers the file (``chunks.assemble``)."""
