"""Test configuration shared by the test suite and the doctests."""

from __future__ import annotations

import importlib.util
import os
import shutil

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


def require_tool(*tools: str) -> None:
    """Skip the calling test when a command (``pdflatex``, ``pdftotext``) is missing; in CI fail."""
    import pytest

    for tool in tools:
        if shutil.which(tool) is None:
            if IN_CI:
                pytest.fail(f"{tool} is missing in CI (install texlive-latex-base "
                            "texlive-latex-recommended texlive-pictures lmodern poppler-utils)")
            pytest.skip(f"{tool} is not installed")


#: Modules whose doctests need an optional extra that is not in the ``test`` extra.
_DOCTESTS_NEEDING = {"factorcheck/io/torch.py": "torch", "factorcheck/io/memory.py": "torch",
                     "factorcheck/torch.py": "torch", "factorcheck/decouple/torch.py": "torch"}
for _module, _extra in _DOCTESTS_NEEDING.items():
    if importlib.util.find_spec(_extra) is None and not IN_CI:  # in CI a missing extra fails
        collect_ignore.append(_module)
