r"""The one ``longtable`` layout of the LaTeX report: small print, a header repeated on every page.

Examples
--------
>>> table = longtable("rl", r"\toprule a & b \\ \midrule", [r"1 & x \\"], total=r"& 1 \\")
>>> print(table.splitlines()[0])
\begingroup\footnotesize\setlength{\tabcolsep}{3pt}
>>> table.count(r"\toprule a & b"), table.splitlines()[-3:]
(2, ['& 1 \\\\', '\\end{longtable}', '\\endgroup'])
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["longtable"]


def longtable(spec: str, header: str, rows: Sequence[str], *, tabcolsep: str = "3pt",
              total: str = "") -> str:
    """A small-print ``longtable`` whose ``header`` repeats on every page.

    ``total``, when given, is a last row set off by a rule (not repeated).
    """
    total_rows = f"\\midrule\n{total}\n" if total else ""
    return rf"""\begingroup\footnotesize\setlength{{\tabcolsep}}{{{tabcolsep}}}
\begin{{longtable}}{{{spec}}}
{header}
\endfirsthead
{header}
\endhead
\bottomrule
\endfoot
{chr(10).join(rows)}
{total_rows}\end{{longtable}}
\endgroup
"""
