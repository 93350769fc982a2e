"""Layout of the LaTeX and Markdown reports: what wide content becomes, shares, names, figures."""

from __future__ import annotations

import re

import numpy as np
import pytest

from factorcheck.report import render
from factorcheck.report.escape import NAME_LIMIT, latex_name, markdown_escape
from factorcheck.report.latex import MAX_COLUMN_ROWS
from factorcheck.report.model import build


@pytest.fixture(scope="module")
def wide_report(tmp_path_factory):
    """Two layers with more input channels than the per-column table lists, 64/65-char names."""
    folder = tmp_path_factory.mktemp("wide")
    rng = np.random.default_rng(0)
    names = {"n" * NAME_LIMIT: (4, MAX_COLUMN_ROWS + 1, 3, 3),
             "m" * (NAME_LIMIT + 1): (2, 300, 1, 3)}
    np.savez(folder / "wide.npz", **{name: rng.standard_normal(shape)
                                     for name, shape in names.items()})
    return build([folder / "wide.npz"], proofs=[])


@pytest.fixture(scope="module")
def network_report():
    return build(proofs=[], network="mobilenet-v1")


def test_omitted_columns_are_summarized_after_the_table(wide_report):
    tex = render(wide_report, "tex")
    assert "more columns" not in tex and r"\multicolumn{7}" not in tex
    assert (r"Column 17 is listed in the JSON output (energy kept " in tex)
    assert re.search(r"Columns 17 to 300 \(284 more\) are listed in the JSON output \(energy "
                     r"kept [0-9.]+ to [0-9.]+, rank 2\)", tex)
    for table in re.findall(r"\\begin\{tabular\}.*?\\end\{tabular\}", tex, re.S):
        rows = [r for r in table.split(r"\\") if "&" in r]
        assert len({r.count("&") for r in rows}) == 1  # every row has every cell


def test_names_are_shortened_only_past_the_limit(wide_report):
    tex, md = render(wide_report, "tex"), render(wide_report, "md")
    full, long = "n" * NAME_LIMIT, "m" * (NAME_LIMIT + 1)
    assert tex.count(latex_name(full)) >= 3  # verdict table, detail heading, cost table, plot
    assert latex_name(long) != latex_name(long, limit=1000) and latex_name(long) in tex
    assert md.count(full) >= 3 and long not in md and markdown_escape(long) in md


def test_small_shares_keep_their_digits(network_report):
    tex, md = render(network_report, "tex"), render(network_report, "md")
    # dw12 (512x7x7 depthwise) is 0.040 % of MobileNet v1's MACs; it printed as 0.0 %
    assert re.search(r"dw12 \| depthwise \| \$512 \\times 7 \\times 7\$ \| 225,792 \| 4,608 "
                     r"\| 0\.040% \|", md)
    assert r"0.040\%" in tex
    assert not re.search(r"\b0\.0\\?%", tex + md)


def test_figures_stay_in_their_section(wide_report):
    tex = render(wide_report, "tex")
    assert tex.count(r"\begin{figure}[H]") == tex.count(r"\begin{figure}") >= 2
    assert r"\usepackage{float}" in tex


def test_fonts_are_vector_latin_modern():
    tex = render(build(proofs=[]), "tex")
    assert r"\usepackage[T1]{fontenc}" in tex and r"\usepackage{lmodern,textcomp}" in tex
