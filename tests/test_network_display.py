"""A network table shows itself: short repr, HTML and LaTeX for notebooks, from one description."""

from __future__ import annotations

import re

from factorcheck.network import (
    ALPHA,
    RHO,
    Network,
    SkippedNode,
    compare_standard,
    conv,
    mobilenet_v1,
    network_table,
    pointwise,
)
from factorcheck.network.display import table_cells

NASTY = "a_b&c<script>\x1b[31m{}%$#\\"


def _partial(table):
    import dataclasses

    return dataclasses.replace(table, skipped=(SkippedNode(NASTY, "shapes <unknown>", "Conv"),))


def test_repr_is_short_and_elides_the_middle():
    text = repr(network_table(mobilenet_v1()))
    lines = text.splitlines()
    assert len(lines) <= 12 and lines[0].startswith("<NetworkTable mobilenet-v1")
    assert "29 rows" in lines[0] and any(line.split()[:1] == ["..."] for line in lines)
    assert lines[-1].split()[:3] == ["total", "568,740,352", "4,209,088"]
    assert "conv1" in text and "fc" in lines[-2]


def test_repr_of_a_symbolic_and_a_partial_table():
    symbolic = repr(network_table(mobilenet_v1(), alpha=ALPHA, resolution=RHO))
    assert len(symbolic.splitlines()) <= 12 and "10752·α²·ρ²" in symbolic
    net = Network(NASTY, 3, 8, (conv("c", 4, 3, padding=1), pointwise("p", 2)))
    text = repr(_partial(network_table(net)))
    assert len(text.splitlines()) <= 12 and "\x1b" not in text
    assert "at least" in text and "partial: 1 layer not counted" in text


def test_html_escapes_every_name_and_marks_partial_totals():
    net = Network(NASTY, 3, 8, (conv(NASTY, 4, 3, padding=1),))
    html = _partial(network_table(net))._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html and "\x1b" not in html
    assert html.count("<tr>") == 3 and "6,912" in html   # header, one layer, total
    assert "Not counted (totals are lower bounds)" in html and "at least" in html
    assert "Not counted" not in network_table(net)._repr_html_()


def test_latex_is_safe_and_balanced():
    net = Network(NASTY, 3, 8, (conv(NASTY, 4, 3, padding=1),))
    latex = _partial(network_table(net))._repr_latex_()
    assert latex.startswith("$$\\begin{array}") and latex.endswith("\\end{array}$$")
    assert "\x1b" not in latex and "<" not in latex
    assert r"a\_b\&c" in latex and r"\{\}\%\$\#" in latex
    unescaped = re.sub(r"\\[{}]", "", latex)
    assert unescaped.count("{") == unescaped.count("}")
    assert r"\text{6,912}" in latex and "not counted" in latex


def test_every_rendering_prints_the_same_cells():
    table = network_table(mobilenet_v1())
    cells = table_cells(table)
    html, latex = table._repr_html_(), table._repr_latex_()
    for row in cells.rows:
        assert f"<td>{row[7]}</td>" in html and rf"\text{{{row[7]}}}" in latex
    assert cells.total[-2:] == ("568,740,352", "4,209,088") and cells.total[1] == "total"


def test_the_comparison_shows_itself_too():
    cmp = compare_standard(network_table(mobilenet_v1()))
    text = repr(cmp)
    assert len(text.splitlines()) <= 12 and text.startswith("<NetworkComparison mobilenet-v1")
    assert text.splitlines()[-1].split()[:4] == ["total", "568,740,352", "4,867,293,184",
                                                 "0.1168"]
    assert "dw1 + pw1" in cmp._repr_html_() and r"\text{4,867,293,184}" in cmp._repr_latex_()
