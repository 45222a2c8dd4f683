"""How many examples the property tests try: Hypothesis profiles.

By default the suite keeps to its time budget on CI's two cores; `HYPOTHESIS_PROFILE=
thorough` tries ten times as many examples (every test's count, and Hypothesis' own
default for tests that name none): run it before a release or after changing an
importer, the store's write paths or the summarizer.
"""

from __future__ import annotations

import os

from hypothesis import settings

THOROUGH = 10
"""How many times more examples the thorough profile tries."""

settings.register_profile("thorough", max_examples=settings.default.max_examples * THOROUGH)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def examples(count: int) -> int:
    """`count` examples in the default profile, scaled as the loaded profile is to
    Hypothesis' default."""
    scale = settings.default.max_examples / settings.get_profile("default").max_examples
    return max(1, round(count * scale))
