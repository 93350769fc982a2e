"""Run the ``parameter_ratio`` proof: print its checked derivations, exit 0 iff all verified."""

import sys

from factorcheck.symbolic.proofs import run_proof_script

if __name__ == "__main__":
    sys.exit(run_proof_script("parameter_ratio"))
