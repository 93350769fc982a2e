"""Reports: content, escaping at the string level, the same numbers in LaTeX, Markdown and JSON,
the JSON schema, the CLI's exit codes and output file names."""

from __future__ import annotations

import io
import json
import re
import statistics
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from factorcheck.cli import main
from factorcheck.errors import FactorcheckError, LatexError
from factorcheck.report import DEFAULT_STEM, build, render, write
from factorcheck.report import pdf as pdf_module
from factorcheck.report.escape import NAME_LIMIT, latex_escape, latex_name, markdown_escape
from factorcheck.report.json import SCHEMA_VERSION, report_dict
from factorcheck.report.latex import DETAILED_LAYERS
from factorcheck.report.numbers import fmt_distance as plain_distance
from factorcheck.report.numbers import fmt_energy, fmt_ratio, verdict
from factorcheck.report.prose import power_of_ten


def fmt_distance(value: float) -> str:
    """A distance as both reports print it (an exponent as a power of ten in math)."""
    return power_of_ten(plain_distance(value))


#: Names a hostile or careless model file might hold.
HOSTILE_NAMES = (
    r"\input{/etc/passwd}",
    r"}\end{document}",
    "^^5cinput",
    "%",
    "#",
    "~",
    "$(rm -rf ~)",
    "L" * 10_000,
    "conv\x1b[31mred\x07\x00",
    "tab\there\nnewline\r",
    "ünïcødé/层",
    "a_b&c 'q' `g` <x>|\"y\" -- !` ?`",
    "\u202eevil\u200b",
)
MODEL_NAMES = tuple(name.replace("\x00", "") for name in HOSTILE_NAMES)
SPECIALS = set("\\{}$&#^_%~")


@pytest.fixture(scope="module")
def default_report():
    return build()


@pytest.fixture(scope="module")
def hostile_model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("hostile") / "model.npz"
    rng = np.random.default_rng(7)
    # .npz member names cannot hold NUL; every other hostile name can
    arrays = {name: rng.standard_normal((8, 4, 3, 3)) for name in MODEL_NAMES}
    arrays["#"] = np.ones((8, 4, 3, 3))  # one separable layer
    np.savez(path, **arrays)
    return path


@pytest.fixture(scope="module")
def hostile_report(hostile_model):
    return build([hostile_model])


# --------------------------------------------------------------------------- escaping


def _strip_escapes(tex: str) -> str:
    """Remove every escape sequence the escaper may emit; what is left must be inert."""
    tex = re.sub(r"\\char\d+\{\}|\\text[a-z]+\{\}|\\allowbreak\{\}|\\ldots\{\}", "", tex)
    tex = re.sub(r"\\[$&#%_{}^~ ]", "", tex)
    return tex.replace("-{}", "-").replace("'{}", "'").replace("`{}", "`").replace(
        "!{}", "!").replace("?{}", "?")


@pytest.mark.parametrize("typewriter", [False, True])
@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_latex_escape_leaves_no_active_character(name, typewriter):
    left = _strip_escapes(latex_escape(name, typewriter=typewriter))
    assert not SPECIALS & set(left), left[:200]
    assert all(c.isprintable() for c in left)


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_latex_name_is_one_texttt_group_of_bounded_length(name):
    tex = latex_name(name)
    assert tex.startswith(r"\texttt{") and tex.endswith("}")
    inner = _strip_escapes(tex[len(r"\texttt{"):-1])
    assert not SPECIALS & set(inner)
    assert len(tex) < 40 * NAME_LIMIT


def test_escape_is_one_pass_not_sequential():
    # sequential replaces would escape the braces of \textbackslash{} again
    assert latex_escape("\\") == r"\textbackslash{}"
    assert latex_escape("\\{}") == r"\textbackslash{}\{\}"
    assert latex_escape("^^5c", typewriter=True) == r"\char94{}\char94{}5c"
    assert latex_escape("ü") == "ü"  # Latin-1 letters pass through


def test_control_and_unrenderable_characters_become_python_escapes():
    assert latex_escape("a\x1bb\x00") == r"a\textbackslash{}x1bb\textbackslash{}x00"
    assert latex_escape("层") == r"\textbackslash{}u5c42"
    assert latex_escape("\u202e") == r"\textbackslash{}u202e"


def test_long_names_are_shortened_with_an_ellipsis():
    tex = latex_name("a" * 5000 + "END")
    plain = re.sub(r"\\[a-z]+\{\}", "", tex)
    assert r"\ldots{}" in tex and plain.endswith("END}")
    assert plain.count("a") < NAME_LIMIT


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_markdown_escape_keeps_tables_and_lines_intact(name):
    md = markdown_escape(name)
    assert "\n" not in md and "\r" not in md
    assert re.search(r"(?<!\\)\|", md) is None  # no unescaped pipe can split a cell
    assert "<" not in md and all(c.isprintable() for c in md)


# --------------------------------------------------------------------------- content


def test_latex_content(default_report):
    tex = render(default_report, "tex")
    for needle in (r"\toprule", r"\usepackage{pgfplots}", r"\begin{longtable}",
                   r"\begin{semilogyaxis}", "MACs", "FLOPs", r"\fcok", "Cost derivations",
                   "The separability theorem", "The worked example", "Findings", "agrees",
                   r"$3 \times 3 \times 3 \times 6$", r"\texttt{near-\allowbreak{}separable}",
                   "energy kept", "factors depthwise"):
        assert needle in tex, needle
    assert tex.count(r"\begin{fcderivation}") == sum(
        len(p.derivations) for p in default_report.proofs)
    # every step carries its mark
    steps = sum(len(d.steps) for p in default_report.proofs for d in p.derivations)
    assert tex.count(r"(verified \fcok)") == steps


@pytest.mark.parametrize("fmt", ["tex", "md"])
@pytest.mark.parametrize("proofs", [None, []])
def test_worked_example_findings_are_stated_once(fmt, proofs):
    """In the proof's findings when the proof is shown, else in a list; never both."""
    text = render(build(proofs=proofs), fmt)
    section = text[text.index("The worked example"):]
    assert section.count("Findings") + section.count("Inconsistency found") == 1


def test_latex_uses_only_available_packages(default_report):
    tex = render(default_report, "tex")
    used = set(re.findall(r"\\usepackage(?:\[[^]]*\])?\{([^}]*)\}", tex))
    packages = {p.strip() for group in used for p in group.split(",")}
    assert packages <= {"geometry", "amsmath", "amssymb", "array", "booktabs", "longtable",
                        "pgfplots", "hyperref", "fontenc", "lmodern", "textcomp", "float"}


def test_hostile_names_never_reach_latex_raw(hostile_report):
    tex = render(hostile_report, "tex")
    assert r"\input{/etc/passwd}" not in tex
    assert r"}\end{document}" not in tex.replace(r"\end{document}" + "\n", "")
    assert "^^5c" not in tex and "\x1b" not in tex and "L" * 100 not in tex
    assert tex.count(r"\end{document}") == 1


def test_proofs_all_verified(default_report):
    assert default_report.ok
    assert {p.name for p in default_report.proofs} >= {"cost_ratio", "theorem", "worked_example"}


def test_details_agree_with_the_scan(hostile_report):
    """The per-column numbers reproduce the scan's distance (no drift between the two passes)."""
    for layer in hostile_report.layers:
        d, res = layer.detail, layer.record.dw_pw
        tail = np.sqrt((d.singular_values[:, 1:] ** 2).sum())
        assert tail == pytest.approx(res.distance, rel=1e-9, abs=1e-12)
        assert (d.ranks.max() == res.min_multiplier)


def test_separable_kernel_gets_factor_shapes(default_report):
    sep = next(la for la in default_report.layers if la.record.name == "separable")
    assert sep.factor_shapes("dw-pw") == {"depthwise": (3, 1, 3, 3), "pointwise": (16, 3, 1, 1)}
    assert sep.costs.standard_macs == 16 * 3 * 9 and sep.costs.dsc_macs == 3 * 9 + 16 * 3


# --------------------------------------------------------------------------- three formats


def test_json_schema(default_report):
    d = json.loads(render(default_report, "json"))
    assert d["schema_version"] == SCHEMA_VERSION == 1
    assert set(d) == {"schema_version", "generator", "ok", "options", "proofs", "worked_example",
                      "sources", "network"}
    source = d["sources"][0]
    assert set(source) == {"label", "is_model", "scan", "layers"}
    assert set(source["layers"][0]) == {"index", "name", "canonical_shape", "costs", "factors",
                                        "slices"}
    assert d["worked_example"]["ratio"] == "25/144"
    assert "3 × 3 × 3 × 6" in d["proofs"][-1]["findings"][0]
    assert r"$3 \times 3 \times 3 \times 6$" in d["proofs"][-1]["findings_latex"][0]
    assert "16 kernels, not 6" in d["worked_example"]["findings"][0]["explanation"]
    assert [la["name"] for la in source["layers"]] == [r["name"] for r in source["scan"]["layers"]]


def test_json_scan_is_exactly_check_json():
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["check", "--json"]) == 0
    check = json.loads(out.getvalue())
    report = json.loads(render(build(proofs=[]), "json"))
    assert report["sources"][0]["scan"] == check


def test_json_keeps_full_names(hostile_report):
    d = report_dict(hostile_report)
    names = {la["name"] for la in d["sources"][0]["layers"]}
    assert names == set(MODEL_NAMES)
    json.loads(json.dumps(d, allow_nan=False))  # NaN-free, serializable


@pytest.mark.parametrize("which", ["default_report", "hostile_report"])
def test_same_numbers_in_all_three_formats(which, request):
    report = request.getfixturevalue(which)
    tex, md = render(report, "tex"), render(report, "md")
    data = json.loads(render(report, "json"))
    for source in data["sources"]:
        for record, extra in zip(source["scan"]["layers"], source["layers"], strict=True):
            for order in ("dw_pw", "pw_dw"):
                r = record[order]
                cells = [verdict(r["separable"], r["exact"]), fmt_distance(r["relative_distance"]),
                         fmt_ratio(r["cost_ratio"])]
                # absolute distances: every order per layer in detailed sources, else dw-pw's
                if order == "dw_pw" or len(source["layers"]) <= DETAILED_LAYERS:
                    cells.append(fmt_distance(r["distance"]))
                for cell in cells:
                    assert cell in tex and cell in md, (record["name"][:20], cell)
            kept = extra["slices"]["energy_kept"]
            shown = kept[:16] if len(source["layers"]) <= DETAILED_LAYERS else [
                min(kept), statistics.median(kept), max(kept)]
            for value in shown:
                assert fmt_energy(value) in tex and fmt_energy(value) in md
    example = data["worked_example"]
    for number in ("15,552", "972", "1,728", "25/144"):
        assert number in tex and number in md
    assert str(example["standard_macs"]) == "15552"


def test_markdown_content(default_report):
    md = render(default_report, "md")
    assert md.startswith("# Depthwise separable convolution, verified")
    assert "$$" in md and r"\frac{1}{N} + \frac{1}{D_{k}^{2}}" in md
    assert "✓ verified" in md and r"$3 \times 3 \times 3 \times 6$" in md
    assert "| # | layer | shape | kind |" in md


def test_markdown_escapes_hostile_names(hostile_report):
    md = render(hostile_report, "md")
    assert "\x1b" not in md and "L" * 100 not in md
    assert r"\\input\{/etc/passwd\}" in md


# --------------------------------------------------------------------------- network


def test_network_table_is_embedded():
    report = build(proofs=[], network="mobilenet-v1")
    d = report_dict(report)
    assert d["network"]["separable"]["totals"]["macs"] == report.network.separable.total_macs
    tex, md = render(report, "tex"), render(report, "md")
    assert "Network costs" in tex and "Network costs" in md
    total = f"{report.network.separable.total_macs:,}"
    assert total in tex and total in md


def test_unknown_network_is_a_clear_error():
    with pytest.raises(FactorcheckError, match="mobilenet-v1"):
        build(proofs=[], network="resnet-9000")


# --------------------------------------------------------------------------- write() and CLI


def test_write_infers_format_from_suffix(tmp_path):
    for suffix, start in ((".md", "# "), (".json", "{"), (".tex", "\\documentclass")):
        written = write(output=tmp_path / f"r{suffix}")
        assert written.files == (tmp_path / f"r{suffix}",)
        assert (tmp_path / f"r{suffix}").read_text(encoding="utf-8").startswith(start)


@pytest.mark.parametrize("argv", [
    ["report", "--format", "html"],
    ["report", "--format", "md", "--pdf"],
    ["report", "-o", "r.pdf", "--pdf"],
    ["report", "no-such-file.npz"],
    ["report", "--network", "nope"],
    ["report", "--layout", "HWIO"],
])
def test_cli_bad_input_exits_2(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    try:
        status = main(argv)
    except SystemExit as exit_:  # argparse rejects bad choices itself
        status = exit_.code
    assert status == 2
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_cli_stdout_by_default(capsys):
    assert main(["report", "--format", "json", "--layer", "int*"]) == 0
    assert json.loads(capsys.readouterr().out)["sources"][0]["layers"][0]["name"] == "integer"


def test_cli_files_are_never_named_after_layers(hostile_model, tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.chdir(out)
    assert main(["report", str(hostile_model), "-o", "r.md"]) == 0
    assert main(["report", str(hostile_model), "--format", "json", "-o", "r.json"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["r.json", "r.md"]


def test_cli_pdf_without_engine_still_writes_tex(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(pdf_module, "find_engine", lambda: None)
    assert main(["report", "--pdf"]) == 2
    err = capsys.readouterr().err
    assert "texlive-latex-base texlive-latex-recommended texlive-pictures" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{DEFAULT_STEM}.tex"]


def test_pdf_failure_keeps_tex_and_names_it(tmp_path, monkeypatch):
    def fail(tex, destination, timeout):
        raise LatexError("pdflatex failed; from its log:\n! Undefined control sequence.")

    monkeypatch.setattr("factorcheck.report.compile_pdf", fail)
    with pytest.raises(LatexError, match=r"Undefined control sequence[\s\S]*r\.tex"):
        write(output=tmp_path / "r.tex", pdf=True)
    assert (tmp_path / "r.tex").exists() and not (tmp_path / "r.pdf").exists()


def test_cli_exit_1_when_a_proof_fails(monkeypatch, capsys):
    from factorcheck.report import model

    real = model.run_proofs

    def broken(names=None):
        proofs = real(["cost_ratio"])
        return [type(p)(p.name, p.title, p.summary, p.derivations[:1], p.findings) for p in proofs]

    import dataclasses

    from factorcheck.symbolic.derivation import Status

    def failing(names=None):
        proof = broken()[0]
        d = proof.derivations[0]
        step = dataclasses.replace(d.steps[0], status=Status.UNVERIFIED)
        bad = dataclasses.replace(d, steps=(step,))
        return [dataclasses.replace(proof, derivations=(bad,))]

    monkeypatch.setattr(model, "run_proofs", failing)
    assert main(["report", "--format", "md"]) == 1
    captured = capsys.readouterr()
    assert "? unverified" in captured.out and "not verified" in captured.err
