"""The registry of proofs behind ``proofs/*.py`` and ``factorcheck prove``.

``PROOFS`` maps each proof's name to a function returning a
:class:`~factorcheck.symbolic.derivation.Proof`; :func:`run_proofs` runs some
or all of them in order.  A report generator gets every derivation as LaTeX
with ``[proof.to_latex() for proof in run_proofs()]``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from factorcheck.errors import FactorcheckError
from factorcheck.symbolic.derivation import Proof
from factorcheck.symbolic.ratios import (
    cost_ratio_proof,
    general_costs_proof,
    parameter_ratio_proof,
)
from factorcheck.symbolic.theorem import (
    block_factorization_proof,
    decomposition_terms_proof,
    dimension_count_proof,
    theorem_proof,
)
from factorcheck.symbolic.worked_example import worked_example_proof

__all__ = ["PROOFS", "run_proof_script", "run_proofs"]

#: Proof name -> function building the checked proof, in presentation order.
PROOFS: dict[str, Callable[[], Proof]] = {
    "cost_ratio": cost_ratio_proof,
    "parameter_ratio": parameter_ratio_proof,
    "general_costs": general_costs_proof,
    "block_factorization": block_factorization_proof,
    "theorem": theorem_proof,
    "dimension_count": dimension_count_proof,
    "decomposition_terms": decomposition_terms_proof,
    "worked_example": worked_example_proof,
}


def run_proofs(names: Iterable[str] | None = None) -> list[Proof]:
    """Run the named proofs (all of them by default), in registry order.

    Parameters
    ----------
    names : iterable of str, optional
        Names from :data:`PROOFS`; duplicates run once.

    Returns
    -------
    list of Proof
        Each has ``.ok``, ``.to_text()`` and ``.to_latex()``.

    Raises
    ------
    FactorcheckError
        An unknown name; the message lists the valid ones.

    Examples
    --------
    >>> [proof.ok for proof in run_proofs(["cost_ratio", "worked_example"])]
    [True, True]
    >>> run_proofs(["nope"])
    Traceback (most recent call last):
    ...
    factorcheck.errors.FactorcheckError: unknown proof 'nope'; expected one of: cost_ratio, ...
    """
    wanted = list(PROOFS) if names is None else list(names)
    unknown = [name for name in wanted if name not in PROOFS]
    if unknown:
        raise FactorcheckError(
            f"unknown proof {unknown[0]!r}; expected one of: {', '.join(PROOFS)}"
        )
    return [PROOFS[name]() for name in PROOFS if name in wanted]


def run_proof_script(name: str) -> int:
    """Body of ``proofs/<name>.py``: print the proof, return the exit status (0 iff verified).

    Examples
    --------
    >>> run_proof_script("worked_example")  # doctest: +ELLIPSIS
    [worked_example] The worked example: ...: OK
    ...
    0
    """
    proof = run_proofs([name])[0]
    print(proof.to_text())
    return 0 if proof.ok else 1
