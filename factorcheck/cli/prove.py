"""``factorcheck prove [NAME ...] [--latex]``: run the checked proofs.

Exit status 0 iff every step of every requested proof is verified, 1 otherwise;
an unknown name is bad input (status 2, with the valid names listed).
"""

from __future__ import annotations

import argparse

from factorcheck.symbolic.proofs import PROOFS, run_proofs

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``prove`` subcommand.

    Examples
    --------
    >>> import argparse
    >>> parser = argparse.ArgumentParser(prog="factorcheck")
    >>> register(parser.add_subparsers(dest="command"))
    >>> parser.parse_args(["prove", "theorem", "--latex"]).names
    ['theorem']
    """
    parser = subparsers.add_parser(
        "prove",
        help="run the machine-checked derivations",
        description="Run the proofs (all by default) and print every checked step.",
    )
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"proofs to run, from: {', '.join(PROOFS)}")
    parser.add_argument("--latex", action="store_true",
                        help="print LaTeX fragments (align* environments) instead of text")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the proofs; return 0 iff all are verified.

    Examples
    --------
    >>> import argparse
    >>> run(argparse.Namespace(names=["cost_ratio"], latex=False))  # doctest: +ELLIPSIS
    [cost_ratio] ...: OK
    ...
    0
    """
    proofs = run_proofs(args.names or None)
    for proof in proofs:
        print(proof.to_latex() if args.latex else proof.to_text())
    failed = [proof.name for proof in proofs if not proof.ok]
    if not args.latex:
        print(f"{len(proofs) - len(failed)}/{len(proofs)} proofs verified"
              + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0
