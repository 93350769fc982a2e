"""Allow ``python -m factorcheck``."""

import sys

from factorcheck.cli import main

sys.exit(main())
