"""The guarded fetcher: URL rules (``guard``, ``urlnorm``), connections that go through the
guard (``connections``), yt-dlp (``ytdlp``) and what its errors mean (``classify``)."""
