"""The platforms Outpost publishes to.

- `base`: the adapter base class (OAuth, the one HTTP chokepoint, error classes) and its value types.
- `<slug>.py`: one adapter per platform (`meta.py` holds what Instagram, Facebook and Threads share).
- `registry`: the map slug -> adapter class, and building a configured adapter from settings.

The platform list (`core.domain.catalog`) and each platform's limits (`core.rules.limits`) live below this
package, so the domain, the rules and the media checks can read them without importing any adapter.
"""
