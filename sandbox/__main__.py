"""`python -m sandbox --port 8765 [--host 127.0.0.1] [--seed 1] [--state-file PATH] [--config FILE.json]`

Prints one line, the base URL, then logs requests at INFO (method, path, status, time; never
tokens or query strings).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys

from sandbox.runner import serve_forever


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description="Outpost's platform API emulator.")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--seed", type=int, default=1, help="ids and insights are deterministic per seed")
    parser.add_argument("--state-file", default=None, help="load state from PATH at start, save it at exit")
    parser.add_argument("--config", default=None, help="a JSON file of SandboxConfig overrides")
    parser.add_argument("--latency-ms", type=float, default=None, help="latency added to every platform request")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    overrides = {}
    if args.config:
        with open(args.config, encoding="utf-8") as fh:
            overrides = json.load(fh)
    if args.latency_ms is not None:
        overrides["latency_ms"] = args.latency_ms

    def ready(url: str) -> None:
        print(url, flush=True)

    try:
        serve_forever(args.host, args.port, args.seed, overrides or None, args.state_file, ready)
    except KeyboardInterrupt:   # uvicorn re-raises the SIGINT it handled; a clean stop is still a clean stop
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
