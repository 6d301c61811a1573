"""Run the emulator: in a background thread (tests, benchmarks) or in the foreground (the CLI).

    with Emulator.start(port=0, seed=1) as emu:
        httpx.get(emu.base_url("graph.instagram.com") + "/v25.0/me", params={"access_token": ...})
        emu.advance(3600)          # move the emulator clock
        emu.state.posts            # direct access for assertions
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time

import uvicorn

from sandbox import control
from sandbox.config import SandboxConfig
from sandbox.server import Core, QuietLostResponses, build_app

log = logging.getLogger("outpost.sandbox")


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted sockets only when the listening socket
    # says TCP; without it every keep-alive answer waits ~40 ms on Nagle and delayed ACKs.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _uvicorn_config(app, log_level: str) -> uvicorn.Config:
    uvicorn_log = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, QuietLostResponses) for f in uvicorn_log.filters):
        uvicorn_log.addFilter(QuietLostResponses())
    return uvicorn.Config(app, http="h11", ws="none", lifespan="on", access_log=False, log_config=None,
                          log_level=log_level, timeout_keep_alive=30, timeout_graceful_shutdown=2, backlog=2048,
                          server_header=False)


def make_core(seed: int = 1, config: SandboxConfig | dict | None = None, state_file: str | None = None) -> Core:
    if isinstance(config, dict):
        cfg = SandboxConfig()
        cfg.update(config)
    else:
        cfg = config or SandboxConfig()
    core = Core(cfg, seed=seed)
    core.state_file = state_file
    if state_file and os.path.exists(state_file):
        core.state.load(state_file)
        log.info("loaded sandbox state from %s", state_file)
    return core


class Emulator:
    """A running emulator: `url`, `state`, `base_url(host)` and the control operations in-process."""

    def __init__(self, core: Core, server: uvicorn.Server, thread: threading.Thread, sock: socket.socket, host: str):
        self.core = core
        self._server = server
        self._thread = thread
        self._sock = sock
        port = sock.getsockname()[1]
        self.host = host
        self.port = port
        self.url = f"http://{host if ':' not in host else f'[{host}]'}:{port}"

    # -------------------------------------------------------------- lifecycle
    @classmethod
    def start(cls, port: int = 0, host: str = "127.0.0.1", seed: int = 1, config: SandboxConfig | dict | None = None,
              state_file: str | None = None, log_level: str = "warning", timeout: float = 10.0) -> "Emulator":
        """Start uvicorn in a daemon thread on `port` (0: a free one) and wait until it answers."""
        core = make_core(seed, config, state_file)
        sock = _bind(host, port)
        server = uvicorn.Server(_uvicorn_config(build_app(core), log_level))
        errors: list[BaseException] = []

        def serve() -> None:
            try:
                asyncio.run(server.serve(sockets=[sock]))
            except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
                errors.append(exc)

        thread = threading.Thread(target=serve, name=f"sandbox-emulator-{sock.getsockname()[1]}", daemon=True)
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if errors or not thread.is_alive():
                sock.close()
                raise RuntimeError(f"the sandbox emulator did not start: {errors[0] if errors else 'thread exited'}")
            if time.monotonic() > deadline:
                server.should_exit = True
                raise RuntimeError("the sandbox emulator did not start in time")
            time.sleep(0.01)
        return cls(core, server, thread, sock, host)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._sock.close()
        if self.core.state_file:
            self.core.state.save(self.core.state_file)

    def __enter__(self) -> "Emulator":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -------------------------------------------------------------- access
    @property
    def state(self):
        return self.core.state

    @property
    def config(self) -> SandboxConfig:
        return self.core.state.config

    @property
    def faults(self):
        return self.core.faults

    def base_url(self, host: str) -> str:
        """The emulator URL that stands for https://{host} (append the real path)."""
        return f"{self.url}/{host}"

    def now(self) -> float:
        return self.core.state.clock.now()

    def advance(self, seconds: float) -> float:
        """Move the emulator clock forward (token expiry, container expiry, insights growth)."""
        return self.core.state.clock.advance(seconds)

    def configure(self, **changes) -> dict:
        return self.core.state.config.update(changes)

    def add_fault(self, **rule) -> dict:
        return self.core.faults.add(rule).as_json()

    def clear_faults(self) -> None:
        self.core.faults.clear()
        self.core.state.config.latency_ms = 0.0

    def reset(self, clock: bool = True) -> None:
        control.reset(self.core, clock=clock)

    def posts(self, platform: str | None = None, account: str | None = None) -> list[dict]:
        return control.posts(self.core, platform, account)

    def duplicates(self) -> dict:
        return control.duplicates(self.core)

    def accounts(self, platform: str, count: int = 1, prefix: str = "sandbox", scopes: list[str] | None = None,
                 handle: str | None = None) -> list[dict]:
        """Connected accounts with tokens, skipping the consent pages (benchmarks with many accounts)."""
        handles = [handle] if handle else [f"{prefix}_{i:04d}" for i in range(1, count + 1)]
        return control.mint_accounts(self.core, platform, handles, scopes)


def serve_forever(host: str, port: int, seed: int, config: SandboxConfig | dict | None, state_file: str | None,
                  on_ready) -> None:
    """Run in the foreground until SIGINT/SIGTERM; `on_ready(url)` is called once the socket is bound."""
    core = make_core(seed, config, state_file)
    sock = _bind(host, port)
    server = uvicorn.Server(_uvicorn_config(build_app(core), "info"))
    bound = sock.getsockname()[1]
    on_ready(f"http://{host if ':' not in host else f'[{host}]'}:{bound}")
    # Uvicorn handles SIGTERM itself, then re-raises it once it has shut down; with the default handler
    # that re-raise would kill the process before the state below is saved. A no-op handler lets it finish.
    import signal
    signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        if state_file:
            core.state.save(state_file)
            log.info("saved sandbox state to %s", state_file)
