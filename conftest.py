"""Test configuration shared by the test suite and the doctests."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "factorcheck",
    derandomize=True,
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("factorcheck")

#: In CI every optional extra is installed, so a test must never skip for want of one.
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
collect_ignore = ["factorcheck/__main__.py"]
