"""The batch-generation hook: generates the next batches of content (AI or the offline generator).

The generator itself arrives with the AI issue; until then the runner may be given one, and without one this
job does nothing."""
from __future__ import annotations

from typing import Callable

BatchGenerator = Callable[[], object]


def generate_batches(generator: BatchGenerator | None) -> object:
    """Run the configured generator once (its failure is raised to the caller, which logs and counts it)."""
    if generator is None:
        return None
    return generator()
