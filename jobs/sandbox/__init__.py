"""The old name of the platform emulator, kept for one release: it now lives in the top-level `sandbox` package.

`python -m jobs.sandbox` and `from jobs.sandbox import Emulator, SandboxConfig, PLATFORMS` still work;
deep imports such as `jobs.sandbox.x` do not. Use `python -m sandbox` and `import sandbox` instead.
"""
from sandbox import PLATFORMS, Emulator, SandboxConfig

__all__ = ["Emulator", "SandboxConfig", "PLATFORMS"]
