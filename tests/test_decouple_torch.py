"""Tests of factorcheck.torch.decouple_module: outputs compared with the original module."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures_models import require

from factorcheck.decouple.bound import error_bound
from factorcheck.decouple.plan import decouple
from factorcheck.errors import FactorcheckError
from factorcheck.torch import decouple_module

torch = require("torch")
nn = torch.nn


def conv(*args, seed=0, **kwargs):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(*args, **kwargs))


def rel_error(a, b):
    return float((a - b).norm() / b.norm())


@pytest.mark.parametrize("order", ["dw-pw", "pw-dw"])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize(("stride", "dilation", "padding", "mode"), [
    (1, 1, 1, "zeros"), (2, 1, 1, "zeros"), (1, 2, 2, "zeros"), (2, 2, 3, "reflect"),
    (1, 1, "same", "circular"), (1, 2, 0, "zeros")])
def test_exact_terms_reproduce_the_conv(order, bias, stride, dilation, padding, mode):
    net = conv(5, 6, 3, stride=stride, dilation=dilation, padding=padding, padding_mode=mode,
               bias=bias, seed=stride + dilation)
    exact = decouple_module(net, terms=9, order=order)
    first, second = exact[0]
    assert (first.groups, second.groups) == ((5, 1) if order == "dw-pw" else (1, 6))
    assert (second.bias is not None) == bias and first.bias is None
    x = torch.randn(2, 5, 13, 11, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert rel_error(exact(x), net(x)) < 1e-5


def test_low_rank_error_is_within_the_certified_bound():
    net = conv(8, 16, 3, padding=1, bias=False, seed=3)
    low = decouple_module(net, terms=1)
    weight = net[0].weight.detach().double().numpy()
    factors = decouple(weight, terms=1)
    bound = error_bound(weight, factors.to_kernel(), (12, 12), padding=1)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for _ in range(5):
            x = torch.randn(1, 8, 12, 12, generator=gen)
            error = float((low(x) - net(x)).norm())
            assert 0.1 * bound * float(x.norm()) < error <= bound * float(x.norm()) * (1 + 1e-5)


def test_energy_and_rtol_choose_per_layer():
    rng = np.random.default_rng(0)
    rank2 = np.einsum("ijr,jrhw->ijhw", rng.normal(size=(16, 8, 2)), rng.normal(size=(8, 2, 3, 3)))
    net = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 8, 3))
    with torch.no_grad():
        net[0].weight.copy_(torch.from_numpy(rank2))
    out = decouple_module(net, rtol=1e-6)
    assert isinstance(out[0], nn.Sequential) and out[0][0].out_channels == 8 * 2
    assert isinstance(out[2], nn.Conv2d)  # full rank: exact would cost more, left alone
    x = torch.randn(1, 8, 9, 9)
    with torch.no_grad():
        assert rel_error(out(x), net(x)) < 1e-5


def test_untouched_layers_and_original():
    net = nn.Sequential(nn.Conv2d(4, 4, 3, groups=2), nn.Conv2d(4, 8, 1), nn.Conv2d(8, 8, 3),
                        nn.Sequential(nn.Conv2d(8, 8, 3)))
    out = decouple_module(net, terms=1, layer=["3.*"])
    assert [type(m) for m in out[:3]] == [nn.Conv2d] * 3
    assert isinstance(out[3][0], nn.Sequential)
    assert type(net[3][0]) is nn.Conv2d  # the original is unchanged


def test_a_bare_conv_is_returned_rewritten():
    bare = nn.Conv2d(3, 4, 3)
    out = decouple_module(bare, terms=9)
    x = torch.randn(1, 3, 7, 7)
    assert isinstance(out, nn.Sequential)
    with torch.no_grad():
        assert rel_error(out(x), bare(x)) < 1e-5


@pytest.mark.parametrize("kwargs", [{}, {"terms": 1, "rtol": 0.1}, {"terms": 0}])
def test_bad_options(kwargs):
    with pytest.raises(FactorcheckError):
        decouple_module(conv(3, 4, 3), **kwargs)
    with pytest.raises(FactorcheckError, match=r"torch\.nn\.Module"):
        decouple_module("not a module", terms=1)
