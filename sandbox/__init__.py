"""Outpost's local emulator of the platform APIs: one module per platform Outpost declares (Instagram, Facebook
Pages, LinkedIn, X, TikTok, YouTube, Threads, Mastodon, Bluesky), registered in `platforms.MODULES`.

Adapters written against the real APIs run unchanged: every real host is mounted under its
own name, so `https://api.x.com/2/tweets` becomes `http://127.0.0.1:PORT/api.x.com/2/tweets`.
It is the sandbox for new users, the backend of the integration tests and the target of the
benchmarks and fault tests. Start it with `python -m sandbox --port 8765` or in-process
with `Emulator.start()`; see `control` for the /_control API and `config` for every limit.
It is a development tool beside the product: `core` never imports it.
"""
from sandbox.config import PLATFORMS, SandboxConfig
from sandbox.runner import Emulator

__all__ = ["Emulator", "SandboxConfig", "PLATFORMS"]
