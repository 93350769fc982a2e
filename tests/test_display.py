"""Results display themselves: short reprs (<= 12 lines, arrays summarized) and safe HTML."""

from __future__ import annotations

import html.parser

import numpy as np
import pytest
from fixtures_models import require
from hypothesis import given, settings
from hypothesis import strategies as st

import factorcheck
from factorcheck.display import (
    MAX_REPR_LINES,
    Display,
    Table,
    render_html,
    render_text,
    safe_name,
)
from factorcheck.scan import OrderResult, ScanSummary, SkippedLayer, scan_kernels

RNG = np.random.default_rng(17)
HOSTILE = ("<script>alert('x')</script>", "a&b\"c'd", "conv\x1b[31m\x00\t\n", "层" * 70,
           "x" * 200, "</td></tr></table>", "&amp;", "\u202eevil")


class _Checker(html.parser.HTMLParser):
    """Fails on unbalanced tags; records the text and the tags seen."""

    VOID = frozenset({"br", "hr", "img"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, (self.stack, tag)
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def _well_formed(page: str) -> _Checker:
    checker = _Checker()
    checker.feed(page)
    checker.close()
    assert checker.stack == [], checker.stack
    assert checker.tags <= {"div", "p", "strong", "table", "thead", "tbody", "tr", "th", "td"}
    return checker


def _check_repr(obj) -> str:
    text = repr(obj)
    assert len(text.splitlines()) <= MAX_REPR_LINES, text
    assert "array(" not in text and "\x1b" not in text
    return text


# --------------------------------------------------------------------------- reprs


def test_analysis_repr_of_a_big_kernel_is_short_and_has_the_facts():
    kernel = RNG.standard_normal((256, 128, 3, 3)).astype(np.float32)
    a = factorcheck.analyze(kernel)
    text = _check_repr(a)
    for words in ("not separable", "T (min multiplier)  9", "relative", "σ₁", "σ₂/σ₁",
                  "256x128x3x3", "float32"):
        assert words in text
    assert str(a).startswith("dw-pw d=1: not separable")  # __str__ keeps its one line


@pytest.mark.parametrize("kernel", [
    np.ones((8, 4, 1, 1)),                       # one value per slice: no σ₂/σ₁
    np.zeros((4, 2, 3, 3)),                      # zero kernel
    np.arange(24).reshape(4, 2, 3),              # exact, 1-D
    RNG.standard_normal((16, 8, 3, 3)),
])
@pytest.mark.parametrize("order", ["dw-pw", "pw-dw"])
def test_analysis_repr_and_html_for_every_kind_of_kernel(kernel, order):
    a = factorcheck.analyze(kernel, order=order, multiplier=2)
    text = _check_repr(a)
    assert ("σ₃/σ₁" in text) == (np.shape(a.singular_values)[1] > 2)
    _well_formed(a._repr_html_())


def test_grouped_analysis_shows_the_groups():
    a = factorcheck.analyze(RNG.standard_normal((32, 16, 3, 3)), groups=2)
    text = _check_repr(a)
    assert "2 groups" in text and "per group (G=2)" in text


def test_factors_repr_summarizes_the_arrays():
    f = factorcheck.decompose(RNG.standard_normal((128, 64, 5, 5)), approximate=True)
    text = _check_repr(f)
    assert "1. depthwise  64x1x5x5" in text and "2. pointwise  128x64x1x1" in text
    g = factorcheck.decompose(np.ones((8, 2, 3, 3)), order="pw-dw", groups=2)
    assert "1. pointwise" in _check_repr(g)
    page = _well_formed(g._repr_html_())
    assert "depthwise" in "".join(page.text)


def test_exact_factors_repr():
    f = factorcheck.decompose(np.ones((4, 2, 3, 3), dtype=int))
    assert "exact (fractions)" in _check_repr(f)


def test_scan_result_repr_of_many_layers_is_short():
    kernels = {f"layer{i}.conv": RNG.standard_normal((8, 4, 3, 3)) for i in range(200)}
    kernels["bias"] = np.zeros(8)
    result = scan_kernels(kernels)
    text = _check_repr(result)
    assert text.startswith("ScanResult: 200 layers (0 trivial), 1 skipped")
    assert "more layers" in text and "dw-pw: 0 of 200 separable" in text
    page = _well_formed(result._repr_html_())
    assert "150 more layers" in "".join(page.text)  # HTML shows the first 50 rows


def test_layer_record_and_small_results_reprs():
    result = scan_kernels({"dw": np.ones((8, 1, 3, 3)), "c": RNG.standard_normal((4, 2, 5))})
    for record in result.layers:
        _check_repr(record)
        _well_formed(record._repr_html_())
    assert "trivially separable" in repr(result.layers[0])
    for small in (result.layers[1].dw_pw, result.summary(), SkippedLayer("a", "f", "why"),
                  OrderResult("dw-pw", True, False, 1, 0.0, 0.0, 0.5)):
        _check_repr(small)


def test_module_records_show_the_attributes():
    torch = require("torch")
    record, = scan_kernels(torch.nn.Conv2d(4, 8, 3, stride=2, padding=1)).layers
    assert "stride 2x2, pads 1x1x1x1, dilation 1x1" in _check_repr(record)


# --------------------------------------------------------------------------- hostile names


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_are_escaped_in_html_and_text(name):
    result = scan_kernels({name: np.ones((4, 2, 3, 3)), "ok": np.ones((4, 2, 3, 3))})
    for obj in (result, result.layers[0]):
        page = obj._repr_html_()
        checker = _well_formed(page)
        assert "<script" not in page
        shown = "".join(checker.text)
        assert safe_name(name) in shown or safe_name(name, 30) in shown
        text = _check_repr(obj)
        assert all(c.isprintable() or c == "\n" for c in text)


@settings(max_examples=40)
@given(name=st.text(min_size=1, max_size=80), value=st.text(max_size=40))
def test_any_text_gives_well_formed_html(name, value):
    display = Display(name, facts=((name, value),), tables=(Table((name,), ((value,),), more=2),),
                      notes=(value,))
    page = render_html(display)
    checker = _well_formed(page)
    assert name in "".join(checker.text)  # escaped on the way in, read back verbatim
    text = render_text(display)
    assert len(text.splitlines()) <= MAX_REPR_LINES
    assert all(c.isprintable() or c == "\n" for c in text)


def test_safe_name_shortens_and_escapes():
    assert safe_name("a\x1b") == "a\\x1b"
    assert len(safe_name("y" * 500)) == 60 and "…" in safe_name("y" * 500)


def test_text_rendering_respects_the_line_budget_with_notes():
    rows = tuple((str(i),) for i in range(100))
    display = Display("t", facts=tuple((f"f{i}", "v") for i in range(5)),
                      tables=(Table(("n",), rows),), notes=("one", "two"))
    lines = render_text(display).splitlines()
    assert len(lines) == MAX_REPR_LINES and lines[-2:] == ["  one", "  two"]
    assert ScanSummary(1, 0, 0).layers == 1


def test_report_objects_have_short_reprs():
    from factorcheck.report import write
    from factorcheck.report.model import build

    report = build(proofs=["cost_ratio"])
    layer = report.sources[0].layers[0]
    for obj in (report, report.sources[0], layer, layer.detail, write(format="md")):
        text = _check_repr(obj)
        assert max(len(line) for line in text.splitlines()) <= 100, text
        _well_formed(obj._repr_html_())
    assert "options         6 keys: orders, multiplier" in repr(report)


def test_default_display_counts_fields_past_the_budget():
    from dataclasses import make_dataclass

    from factorcheck.display import Displayable

    wide = make_dataclass("Wide", [(f"f{i}", int) for i in range(20)], bases=(Displayable,),
                          frozen=True, repr=False)
    text = _check_repr(wide(*range(20)))
    assert text.splitlines()[-1].split() == ["...", "10", "more", "fields"]
