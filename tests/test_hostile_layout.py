"""Issue 10, class 8: layout hints -- a weight implausible as OIHW gets a one-line warning."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from fixtures_models import require
from hostile_helpers import cli

from factorcheck.kernel import LayoutWarning, layout_hint
from factorcheck.scan import scan


@pytest.mark.parametrize("shape, hint", [
    ((3, 3, 32, 64), "HWIO"), ((5, 5, 16, 16), "HWIO"), ((1, 1, 64, 128), "HWIO"),
    ((64, 32, 3, 3), None), ((8, 8, 8, 8), None), ((3, 3, 3, 3), None), ((32, 3, 3, 64), None),
    ((3, 3, 64), None),
])
def test_layout_hint(shape, hint):
    assert layout_hint(shape) == hint


def test_no_hint_for_a_layout_that_was_given():
    assert layout_hint((3, 3, 32, 64), "HWIO") is None


def test_keras_kernel_read_as_oihw_gets_one_warning_line(tmp_path):
    path = tmp_path / "keras.npz"
    np.savez(path, a=np.ones((3, 3, 32, 64)), b=np.ones((3, 3, 64, 64)),
             c=np.ones((64, 32, 3, 3)))
    status, _, err = cli("check", path)
    assert status == 0
    lines = [line for line in err.splitlines() if "warning" in line]
    assert len(lines) == 1
    assert "2 weight(s) look like HWIO" in lines[0] and "32x64 taps" in lines[0]
    assert "--layout HWIO" in lines[0]


def test_no_warning_with_an_explicit_layout_or_plausible_shapes(tmp_path):
    path = tmp_path / "keras.npy"
    np.save(path, np.ones((3, 3, 32, 64)))
    assert "warning" not in cli("check", path, "--layout", "HWIO")[2]
    np.save(path, np.ones((64, 32, 3, 3)))
    with warnings.catch_warnings():
        warnings.simplefilter("error", LayoutWarning)
        scan(path)


def test_library_warning_category(tmp_path):
    path = tmp_path / "k.npy"
    np.save(path, np.ones((3, 3, 16, 16)))
    with pytest.warns(LayoutWarning, match="look like HWIO"):
        scan(path, order="dw-pw")


def test_onnx_and_torch_never_get_the_hint(tmp_path):
    torch = require("torch")
    path = tmp_path / "m.pt"
    torch.save({"w": torch.ones(3, 3, 32, 64)}, path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", LayoutWarning)
        scan(path, order="dw-pw")
