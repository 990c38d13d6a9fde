"""Hypothesis profiles shared by the property tests.

Importing this module loads `meilichat` (about 100 examples per property, quick enough for every
run) or, when `MEILICHAT_FUZZ=1`, `meilichat-fuzz` (5,000 examples, for a deliberate long run).
Deadlines are off: the machine is shared and a slow example is not a failure.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "meilichat",
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "meilichat-fuzz",
    max_examples=5000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("meilichat-fuzz" if os.environ.get("MEILICHAT_FUZZ") == "1" else "meilichat")
