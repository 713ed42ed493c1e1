"""Search across transcripts and questions about a video: the ``transcript_segments`` index
(``index``), hybrid ranking (``ranking``, ``query``) and grounded answers (``ask``)."""
