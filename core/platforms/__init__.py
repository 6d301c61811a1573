"""The platforms Outpost publishes to.

- `catalog`: the one list of platforms (`Platform`: slug and label); every other per-platform list follows it.
- `limits`: each platform's limits, as data (`LIMITS`, `limits_for`).
- `base`: the adapter base class (OAuth, the one HTTP chokepoint, error classes) and its value types.
- `<slug>.py`: one adapter per platform (`meta.py` holds what Instagram, Facebook and Threads share).
- `registry`: the map slug -> adapter class, and building a configured adapter from settings.

Nothing here imports the registry at package import, so importing `catalog` or `limits` stays cheap.
"""
