"""Issue 10, class 6: arguments -- ``--timeout`` and other numbers are refused by the parser."""

from __future__ import annotations

import argparse

import pytest
from hostile_helpers import cli

from factorcheck.cli.report import MAX_TIMEOUT, positive_seconds


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "-1", "0", "-0.0", "1e999",
                                   "abc", "", "86401"])
def test_bad_timeouts_are_refused_by_the_parser(value):
    status, out, err = cli("report", "--timeout", value, "--format", "md")
    assert status == 2 and out == ""
    assert "argument --timeout" in err and "Traceback" not in err


@pytest.mark.parametrize("value, expected", [("0.5", 0.5), ("120", 120.0),
                                             (str(MAX_TIMEOUT), MAX_TIMEOUT)])
def test_good_timeouts_pass(value, expected):
    assert positive_seconds(value) == expected


def test_nan_is_refused_in_the_function():
    with pytest.raises(argparse.ArgumentTypeError, match="nan"):
        positive_seconds("nan")


@pytest.mark.parametrize("argv", [
    ("check", "--max-bytes", "0"), ("check", "--max-bytes", "-5"),
    ("check", "--max-bytes", "1e9"), ("check", "--multiplier", "0"),
    ("check", "--rtol", "nan"), ("check", "--rtol", "2"),
    ("cost", "--input", "nan", "--kernel", "3", "-m", "3", "-n", "4"),
])
def test_other_bad_numbers_are_clean_errors(argv):
    status, _, err = cli(*argv)
    assert status == 2 and "Traceback" not in err and "error" in err
