"""Time ``factorcheck prove`` (all proofs, the real CLI) against ``python -c "import sympy"``.

Both run as fresh subprocesses, interleaved, several times; the script prints
the medians and their ratio.  Target: ratio <= 4.  Run with
``python bench/bench_prove.py [--repeat N]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

TARGET = 4.0
COMMANDS = {
    "factorcheck prove": [sys.executable, "-m", "factorcheck", "prove"],
    "import sympy": [sys.executable, "-c", "import sympy"],
}


def _time(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    repeat = parser.parse_args().repeat
    for command in COMMANDS.values():  # warm the file cache once
        _time(command)
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(repeat):
        for name, command in COMMANDS.items():
            times[name].append(_time(command))
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, value in medians.items():
        print(f"{name:<20} median {value:.3f} s over {repeat} runs")
    ratio = medians["factorcheck prove"] / medians["import sympy"]
    print(f"ratio {ratio:.2f} (target <= {TARGET:g}): {'OK' if ratio <= TARGET else 'OVER'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
