"""Tests of factorcheck.network by hand: tables, MobileNet v1, symbolic = numeric, scaling."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest
import sympy
from hypothesis import given
from hypothesis import strategies as st

from factorcheck.errors import DerivationError, FactorcheckError
from factorcheck.network import (
    ALPHA,
    BUILTIN_NETWORKS,
    LAYER_TYPES,
    MAX_ALPHA,
    RHO,
    Layer,
    Network,
    builtin_network,
    compare_standard,
    conv,
    depthwise,
    fully_connected,
    mobilenet_v1,
    network_table,
    parse_alpha,
    pointwise,
    pool,
)
from factorcheck.network import network_scaling_proof as scaling_proof
from factorcheck.network.builtin import MOBILENET_V1_BLOCKS
from factorcheck.symbolic.cost import compare_layer, output_size
from factorcheck.symbolic.derivation import derive

# ----------------------------------------------------------------- a small network by hand


def small_net(multiplier: int = 1) -> Network:
    """3x16x16 -> conv 3x3/2 -> dw 3x3 -> pw -> grouped 3x3/2 (g=4) -> maxpool 2 -> fc 10."""
    return Network("small", 3, 16, (
        conv("conv", 8, 3, stride=2, padding=1),
        depthwise("dw", 3, padding=1, multiplier=multiplier),
        pointwise("pw", 16),
        conv("grp", 16, 3, stride=2, padding=1, groups=4),
        pool("maxpool", 2),
        fully_connected("fc", 10),
    ), min_resolution=8)


# Hand count of small_net() at alpha 1, resolution 16, no bias:
#   conv  3 -> 8,  16 -> 8:  8*8*8*(3*3*3)   = 13824 MACs,  8*27      = 216 params
#   dw    8,        8 -> 8:  8*8*8*(3*3)     =  4608,       8*9       =  72
#   pw    8 -> 16,  8 -> 8:  8*8*16*8        =  8192,       16*8      = 128
#   grp   16 -> 16, 8 -> 4:  4*4*16*(9*16/4) =  9216,       16*36     = 576
#   pool  2x2,      4 -> 2:  0                              0
#   fc    16*2*2 = 64 -> 10: 64*10           =   640,       640
#   total                                      36480                   1632
SMALL_ROWS = [
    ("conv", "standard", (3, 16, 16), (8, 8, 8), 13824, 216),
    ("dw", "depthwise", (8, 8, 8), (8, 8, 8), 4608, 72),
    ("pw", "pointwise", (8, 8, 8), (16, 8, 8), 8192, 128),
    ("grp", "grouped", (16, 8, 8), (16, 4, 4), 9216, 576),
    ("maxpool", "pool", (16, 4, 4), (16, 2, 2), 0, 0),
    ("fc", "fc", (16, 2, 2), (10, 1, 1), 640, 640),
]


def test_small_network_golden_rows_and_totals():
    table = network_table(small_net())
    got = [(r.name, r.type, r.input_shape, r.output_shape, r.macs, r.params) for r in table.rows]
    assert got == SMALL_ROWS
    assert (table.total_macs, table.total_params) == (36480, 1632)
    assert all(type(r.macs) is int and type(r.params) is int for r in table.rows)


def test_small_network_shares_are_exact_fractions():
    shares = {s.type: s for s in network_table(small_net()).shares()}
    assert list(shares) == ["standard", "depthwise", "pointwise", "grouped", "fc", "pool"]
    assert shares["standard"].macs_share == sympy.Rational(13824, 36480)
    assert shares["fc"].params_share == sympy.Rational(640, 1632)
    assert sum(s.macs_share for s in shares.values()) == 1
    assert sum(s.params_share for s in shares.values()) == 1


def test_small_network_with_biases():
    # one bias per output channel of every conv and fc: 8 + 8 + 16 + 16 + 10 = 58
    table = network_table(small_net(), bias=True)
    assert table.total_params == 1632 + 58
    assert table.total_macs == 36480   # biases are additions, not multiply-accumulates


def test_depth_multiplier():
    # dw with d = 2: 8 -> 16 channels, 8*8*16*9 = 9216 MACs, 16*9 = 144 params; pw then reads 16
    rows = network_table(small_net(multiplier=2)).rows
    assert (rows[1].output_shape, rows[1].macs, rows[1].params) == ((16, 8, 8), 9216, 144)
    assert rows[2].macs == 8 * 8 * 16 * 16


def test_width_multiplier_half_by_hand():
    # alpha = 1/2: widths 4, 4 (dw), 8, 8; the 3 input channels and the 10 classes unscaled
    #   conv 8*8*4*27 = 6912 (108);  dw 8*8*4*9 = 2304 (36);  pw 8*8*8*4 = 2048 (32)
    #   grp  4*4*8*(9*8/4) = 2304 (144);  fc 8*2*2*10 = 320 (320)
    table = network_table(small_net(), alpha=Fraction(1, 2))
    assert [r.macs for r in table.rows] == [6912, 2304, 2048, 2304, 0, 320]
    assert (table.total_macs, table.total_params) == (13888, 640)
    assert table.rows[-1].output_shape == (10, 1, 1)


def test_width_floor_is_exact_not_float():
    # 0.29 * 100 is 28.999999999999996 in floating point: a float floor would give 28
    net = Network("w", 3, 4, (pointwise("pw", 100),))
    assert int(0.29 * 100) == 28   # the trap this test is about
    for alpha in ("0.29", 0.29, Fraction(29, 100), sympy.Rational(29, 100)):
        assert network_table(net, alpha=alpha).rows[0].output_shape[0] == 29


def test_parse_alpha_forms():
    assert parse_alpha("0.75") == parse_alpha("3/4") == parse_alpha(0.75) == Fraction(3, 4)
    assert parse_alpha(" 1 ") == 1 and parse_alpha(MAX_ALPHA) == MAX_ALPHA
    assert parse_alpha(ALPHA) is ALPHA


@pytest.mark.parametrize("bad", [0, "0", -1, "-0.5", "9", "abc", "nan", "inf", "1/0", True,
                                 None, "__import__('os')", "1" * 100, [1]])
def test_parse_alpha_rejects(bad):
    with pytest.raises(FactorcheckError, match="alpha"):
        parse_alpha(bad)


def test_alpha_that_leaves_no_channels():
    with pytest.raises(FactorcheckError, match="rounds down to 0 channels"):
        network_table(small_net(), alpha=Fraction(1, 16))


def test_width_that_breaks_the_groups():
    # alpha 3/8: grp gets floor(6) = 6 channels, not divisible by its 4 groups
    with pytest.raises(FactorcheckError, match=r"layer 4 \(grp\)"):
        network_table(small_net(), alpha=Fraction(3, 8))


@pytest.mark.parametrize("resolution", [0, -224, 7, True, "224", 2.5])
def test_bad_resolutions(resolution):
    with pytest.raises(FactorcheckError, match="resolution"):
        network_table(small_net(), resolution=resolution)


def test_resolution_too_small_for_an_unpadded_layer():
    net = Network("valid", 3, 8, (conv("c5", 4, 5), conv("c5b", 4, 5)))
    network_table(net, resolution=9)   # 9 -> 5 -> 1
    with pytest.raises(FactorcheckError, match=r"layer 2 \(c5b\) at input 4x4x4"):
        network_table(net, resolution=8)   # 8 -> 4, then a 5x5 kernel does not fit


def test_bad_layers():
    with pytest.raises(FactorcheckError, match="expected kind"):
        Layer("x", "deconv")
    with pytest.raises(FactorcheckError, match="needs out_channels"):
        Layer("x", "conv")


def test_negative_control_wrong_hand_totals_are_caught():
    table = network_table(small_net())
    # forgetting the stride of the first conv (16x16 grid instead of 8x8) gives 4x its MACs
    assert table.rows[0].macs != 16 * 16 * 8 * 27
    # counting the grouped conv as a standard one overcounts by the 4 groups
    assert table.rows[3].macs != 4 * 4 * 16 * 9 * 16
    assert table.total_macs != 36480 + 1 and table.total_params != 1632 - 1


# ----------------------------------------------------------------- MobileNet v1

# Hand count of 1.0 MobileNet-224 (no biases); D is the grid, dw = D^2*9*C, pw = D^2*M*N:
#   conv1  112^2 * 32 * 27                                      =  10,838,016   (params 864)
#   dw     112^2*32*9 + 56^2*64*9 + 56^2*128*9 + 28^2*128*9 + 28^2*256*9 + 14^2*256*9
#          + 5 * 14^2*512*9 + 7^2*512*9 + 7^2*1024*9
#          = 3,612,672 + 1,806,336 + 3,612,672 + 903,168 + 1,806,336 + 451,584
#            + 4,515,840 + 225,792 + 451,584                    =  17,385,984   (params 44,640)
#   pw     the 64/128/256/512/1024-output blocks that change width give 25,690,112 each (5 of
#          them: 112^2*32*64 = 56^2*64*128 = ...), the 8 that keep it 51,380,224 each
#          = 5 * 25,690,112 + 8 * 51,380,224                      = 539,492,352   (params 3,139,584)
#   fc     1024 * 1000                                          =   1,024,000   (params 1,024,000)
#   total                                                         568,740,352   (4,209,088)
# The paper: "569 million mult-adds", "4.2 million parameters".
MOBILENET_MACS = 568_740_352
MOBILENET_PARAMS = 4_209_088


def test_mobilenet_architecture():
    net = mobilenet_v1()
    assert len(MOBILENET_V1_BLOCKS) == 13
    assert [layer.type for layer in net.layers[:3]] == ["standard", "depthwise", "pointwise"]
    assert net.layers[-2].kind == "pool" and net.layers[-1].out_channels == 1000
    table = network_table(net)
    assert [r.output_shape[1] for r in table.rows if r.type == "depthwise"] == \
        [112, 56, 56, 28, 28, 14, 14, 14, 14, 14, 14, 7, 7]
    assert table.rows[-3].output_shape == (1024, 7, 7)   # dw13 has stride 1: 7x7 in and out


def test_mobilenet_golden_totals():
    table = network_table(mobilenet_v1())
    assert table.total_macs == MOBILENET_MACS
    assert table.total_params == MOBILENET_PARAMS
    by_type = {s.type: (s.macs, s.params) for s in table.shares()}
    assert by_type == {"standard": (10_838_016, 864), "depthwise": (17_385_984, 44_640),
                       "pointwise": (539_492_352, 3_139_584), "fc": (1_024_000, 1_024_000),
                       "pool": (0, 0)}
    # rounded to the paper's precision
    assert round(MOBILENET_MACS / 1e6) == 569 and round(MOBILENET_PARAMS / 1e5) / 10 == 4.2


def test_mobilenet_with_biases():
    # biases: conv1 32; dw 32+64+128+128+256+256+5*512+512+1024 = 4960;
    # pw 64+128+128+256+256+512+5*512+1024+1024 = 5952; fc 1000 -> 11,944
    assert network_table(mobilenet_v1(), bias=True).total_params == MOBILENET_PARAMS + 11_944


def test_mobilenet_shares_against_the_papers_table_2():
    shares = {s.type: s for s in network_table(mobilenet_v1()).shares()}
    percent = {t: (round(100 * float(s.macs_share), 2), round(100 * float(s.params_share), 2))
               for t, s in shares.items()}
    assert percent["pointwise"] == (94.86, 74.59)
    assert percent["depthwise"] == (3.06, 1.06)
    assert percent["fc"] == (0.18, 24.33)
    # The paper prints 1.19% for "Conv 3x3"; the architecture gives 1.91% (digits swapped:
    # with 1.19% the paper's four shares would sum to 99.29%).
    assert percent["standard"] == (1.91, 0.02)


# the paper's Tables 6 and 7 (million mult-adds, million parameters) and the exact counts
PAPER_TABLES_6_7 = [
    ("1", 224, 569, 4.2, 568_740_352, 4_209_088),
    ("0.75", 224, 325, 2.6, 325_400_448, 2_568_144),
    ("0.5", 224, 149, 1.3, 149_497_088, 1_319_648),
    ("0.25", 224, 41, 0.5, 41_030_272, 463_600),
    ("1", 192, 418, 4.2, 418_121_728, 4_209_088),
    ("1", 160, 290, 4.2, 290_675_200, 4_209_088),   # 290.68: the paper rounds down here
    ("1", 128, 186, 4.2, 186_400_768, 4_209_088),
]


@pytest.mark.parametrize(("alpha", "rho", "paper_macs", "paper_params", "macs", "params"),
                         PAPER_TABLES_6_7)
def test_mobilenet_width_and_resolution_against_the_paper(alpha, rho, paper_macs, paper_params,
                                                          macs, params):
    table = network_table(mobilenet_v1(), alpha=alpha, resolution=rho)
    assert (table.total_macs, table.total_params) == (macs, params)
    assert abs(macs / 1e6 - paper_macs) < 1 and round(params / 1e6, 1) == paper_params


def test_mobilenet_standard_counterpart():
    # each dw+pw pair becomes a 3x3 standard conv on the same grid: D^2*9*M*N = 9 * pw MACs
    #   MACs   10,838,016 + 9 * 539,492,352 + 1,024,000 = 4,867,293,184
    #   params        864 + 9 *   3,139,584 + 1,024,000 =    29,281,120
    # The paper's Table 4: 4866 million mult-adds (4,866,269,184 is the count *without* the fc
    # layer) and 29.3 million parameters.
    cmp = compare_standard(network_table(mobilenet_v1()))
    assert cmp.standard.total_macs == 4_867_293_184
    assert cmp.standard.total_params == 29_281_120
    assert cmp.standard.total_macs - 1_024_000 == 4_866_269_184
    assert cmp.mac_ratio == sympy.Rational(MOBILENET_MACS, 4_867_293_184)
    assert 8.55 < 1 / float(cmp.mac_ratio) < 8.56
    assert [r.type for r in cmp.standard.rows].count("standard") == 14
    assert len(cmp.blocks) == 15   # conv1, 13 blocks, fc (the pool costs nothing either way)


def test_standard_blocks_agree_with_the_single_layer_comparison():
    # an independent path: cost.compare_layer for each block gives the same ratio 1/N + 1/9
    table = network_table(mobilenet_v1(), alpha="1/2", resolution=160)
    rows = {r.name: r for r in table.rows}
    for block in compare_standard(table).blocks[1:-1]:
        dw = rows[block.separable[0]]
        one = compare_layer(dw.input_shape[1:], 3, dw.input_shape[0],
                            rows[block.separable[1]].output_shape[0], stride=dw.stride,
                            padding=1)
        assert (block.mac_ratio, block.standard_macs) == (one.mac_ratio, one.standard.macs)


def test_lone_depthwise_becomes_a_standard_conv_of_the_same_widths():
    # dw d=2 on 4 channels, 6x6 grid -> standard 4 -> 8: 6*6*8*4*9 = 10368 MACs
    net = Network("lone", 4, 6, (depthwise("dw", 3, padding=1, multiplier=2), pool("p", 2)))
    cmp = compare_standard(network_table(net))
    assert cmp.standard.rows[0].macs == 10368 and cmp.separable.total_macs == 6 * 6 * 8 * 9
    assert [b.separable for b in cmp.blocks] == [("dw",)]


def test_builtin_names():
    assert list(BUILTIN_NETWORKS) == ["mobilenet-v1"]
    with pytest.raises(FactorcheckError, match="expected one of mobilenet-v1"):
        builtin_network("mobilenet-v2")


def test_mobilenet_resolution_bounds():
    with pytest.raises(FactorcheckError, match="expected an int >= 32 for mobilenet-v1, got 16"):
        network_table(mobilenet_v1(), resolution=16)
    with pytest.raises(FactorcheckError, match="resolution"):
        network_table(mobilenet_v1(), resolution=-224)


# ----------------------------------------------------------------- symbolic form

GRID_ALPHAS = [Fraction(1, 4), Fraction(1, 2), Fraction(3, 4), Fraction(1)]
GRID_RESOLUTIONS = [128, 160, 192, 224]


def mobilenet_v1_polynomial() -> sympy.Expr:
    return (10752 * ALPHA**2 * RHO**2 + sympy.Rational(1125, 2) * ALPHA * RHO**2
            + 1024000 * ALPHA)


@pytest.fixture(scope="module")
def mobilenet_symbolic():
    return network_table(mobilenet_v1(), alpha=ALPHA, resolution=RHO)


def test_mobilenet_symbolic_polynomial(mobilenet_symbolic):
    # pw: (rho/s)^2 * alpha*M * alpha*N summed: 512*5 + 1024*8 = 10752 (coefficient of a^2 r^2)
    # conv1: 27*32/4 = 216; dw: 9*C/s^2 summed: 72+36+72+18+36+9+5*18+9/2+9 = 693/2;
    #   216 + 693/2 = 1125/2 (coefficient of a r^2); fc: 1024*1000*alpha
    assert sympy.expand(mobilenet_symbolic.total_macs - mobilenet_v1_polynomial()) == 0
    # params: pw 3,139,584 alpha^2; conv1 864 + dw 44,640 + fc 1,024,000 = 1,069,504 alpha
    assert sympy.expand(mobilenet_symbolic.total_params
                        - (3139584 * ALPHA**2 + 1069504 * ALPHA)) == 0
    assert "multiple of 32" in mobilenet_symbolic.assumption


@pytest.mark.parametrize("alpha", GRID_ALPHAS)
@pytest.mark.parametrize("rho", GRID_RESOLUTIONS)
def test_symbolic_equals_numeric_on_the_grid(mobilenet_symbolic, alpha, rho):
    numeric = network_table(mobilenet_v1(), alpha=alpha, resolution=rho)
    point = {ALPHA: sympy.Rational(alpha.numerator, alpha.denominator), RHO: rho}
    assert mobilenet_symbolic.total_macs.subs(point) == numeric.total_macs
    assert mobilenet_symbolic.total_params.subs(point) == numeric.total_params
    for sym, num in zip(mobilenet_symbolic.rows, numeric.rows, strict=True):
        assert tuple(sympy.sympify(v).subs(point) for v in sym.output_shape) == num.output_shape
        assert (sympy.sympify(sym.macs).subs(point), sympy.sympify(sym.params).subs(point)) == \
            (num.macs, num.params)


def test_symbolic_differs_where_its_assumptions_fail(mobilenet_symbolic):
    # alpha = 0.3: 0.3*32 = 9.6 is floored to 9 in the numeric table, not in the symbolic one
    at = mobilenet_symbolic.total_macs.subs({ALPHA: sympy.Rational(3, 10), RHO: 224})
    assert at != network_table(mobilenet_v1(), alpha="0.3").total_macs
    # rho = 200 is not a multiple of 32: 200 -> 100 -> 50 -> 25 -> 13 -> 7, not rho/32 = 6.25
    at = mobilenet_symbolic.total_macs.subs({ALPHA: 1, RHO: 200})
    assert at != network_table(mobilenet_v1(), resolution=200).total_macs


def test_exact_division_is_not_valid_for_stride_two_with_padding_one():
    t = sympy.Symbol("t", positive=True, integer=True)
    assert output_size(32 * t, 3, 2, 1) == 16 * t   # the floor resolves exactly
    wrong = output_size(32 * t, 3, 2, 1, exact_division=True)   # (32t - 1)/2 + 1
    assert wrong == 16 * t + sympy.Rational(1, 2) and wrong.is_integer is False


@given(st.integers(1, 8), st.integers(1, 4), st.integers(1, 3), st.sampled_from([1, 2]))
def test_symbolic_equals_numeric_for_random_chains(eighths, scale, depth, stride):
    layers = []
    for i in range(depth):
        layers += [conv(f"c{i}", 8 * (i + 1), 3, stride=stride, padding=1),
                   depthwise(f"d{i}", 3, padding=1), pointwise(f"p{i}", 16)]
    net = Network("rand", 3, 8, (*layers, pool("gap"), fully_connected("fc", 5)))
    rho = net.total_stride * scale
    symbolic = network_table(net, alpha=ALPHA, resolution=RHO)
    numeric = network_table(net, alpha=Fraction(eighths, 8), resolution=rho)
    point = {ALPHA: sympy.Rational(eighths, 8), RHO: rho}
    assert symbolic.total_macs.subs(point) == numeric.total_macs
    assert sympy.sympify(symbolic.total_params).subs(point) == numeric.total_params


# ----------------------------------------------------------------- scaling proof


def test_mobilenet_scaling_proof_is_verified():
    proof = scaling_proof(mobilenet_v1())
    assert proof.ok and proof.findings == ()
    polynomial, limit, gap, resolution, params = proof.derivations
    assert polynomial.conclusion == mobilenet_v1_polynomial()
    assert limit.conclusion == 10752 * RHO**2
    assert sympy.expand(gap.conclusion - ALPHA * (1 - ALPHA)
                        * (sympy.Rational(1125, 2) * RHO**2 + 1024000)) == 0
    assert params.conclusion == 0
    assert resolution.conclusion.subs({ALPHA: 1, RHO: 224}) == MOBILENET_MACS
    assert "verified" in proof.to_text() and r"\begin{align*}" in proof.to_latex()


def test_alpha_squared_rule_underestimates_by_the_linear_layers():
    # T(1/2, 224) - T(1, 224)/4 = (1/2)(1/2)(1125/2 * 224^2 + 1024000) = 7,312,000
    half = network_table(mobilenet_v1(), alpha="1/2").total_macs
    assert half - sympy.Rational(MOBILENET_MACS, 4) == 7_312_000


def test_scaling_claims_that_do_not_hold_are_recorded_false():
    # unpadded 3x3 convs: sizes rho - 2, rho - 4 are not proportional to rho
    unpadded = Network("valid", 3, 32, (conv("c1", 8, 3), conv("c2", 8, 3)), min_resolution=8)
    proof = scaling_proof(unpadded)
    assert not proof.ok and any("proportional to ρ" in f for f in proof.findings)
    # a layer between two fixed widths adds a constant the alpha^2 rule cannot account for
    fixed = Network("fixed", 3, 8, (conv("c", 4, 1, scale_width=False), conv("d", 4, 1)))
    assert any("α² terms cancel" in f for f in scaling_proof(fixed).findings)


def test_negative_control_a_wrong_polynomial_is_rejected(mobilenet_symbolic):
    wrong = 10752 * ALPHA**2 * RHO**2 + 562 * ALPHA * RHO**2 + 1024000 * ALPHA   # 562 != 562.5
    with pytest.raises(DerivationError):
        derive("wrong total", mobilenet_symbolic.total_macs, [(wrong, "drop the half")])


# ----------------------------------------------------------------- plain-data accessors


def test_to_dict_schema_numeric():
    data = network_table(small_net()).to_dict()
    assert data["schema_version"] == 1 and data["symbolic"] is False
    assert set(data) == {"schema_version", "network", "symbolic", "alpha", "input_shape", "bias",
                         "assumption", "convention", "layers", "totals", "shares", "skipped",
                         "complete", "not_counted"}
    assert data["complete"] is True and data["not_counted"] == []
    assert set(data["layers"][0]) == {"index", "name", "type", "input", "output", "kernel",
                                      "stride", "groups", "macs", "params", "bias"}
    assert data["totals"] == {"macs": 36480, "params": 1632}
    assert data["layers"][-1]["kernel"] is None and data["layers"][0]["output"] == [8, 8, 8]
    assert {s["type"] for s in data["shares"]} <= set(LAYER_TYPES)
    assert json.loads(json.dumps(data)) == data


def test_to_dict_schema_symbolic_and_comparison(mobilenet_symbolic):
    data = mobilenet_symbolic.to_dict()
    assert data["symbolic"] is True and data["alpha"] == "alpha"
    assert data["totals"]["macs"] == "10752*alpha**2*rho**2 + 1125*alpha*rho**2/2 + 1024000*alpha"
    json.dumps(data)
    cmp = compare_standard(network_table(mobilenet_v1())).to_dict()
    assert set(cmp) == {"schema_version", "separable", "standard", "blocks", "mac_ratio",
                        "mac_ratio_exact", "param_ratio", "param_ratio_exact", "complete"}
    assert cmp["mac_ratio_exact"] == str(sympy.Rational(MOBILENET_MACS, 4_867_293_184))
    json.dumps(cmp)


def test_data_flows_one_way_symbolic_never_imports_network():
    import ast
    import pathlib

    import factorcheck.symbolic

    for module in pathlib.Path(factorcheck.symbolic.__file__).parent.glob("*.py"):
        tree = ast.parse(module.read_text(encoding="utf-8"))
        imported = [node.module or "" for node in ast.walk(tree)
                    if isinstance(node, ast.ImportFrom)]
        imported += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                     for alias in node.names]
        assert not [name for name in imported if name.startswith("factorcheck.network")], module
