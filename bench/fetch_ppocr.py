"""Fetch PP-OCRv4 det (a real trained ONNX model) from the ``rapidocr-onnxruntime`` wheel.

The wheel is downloaded with ``pip download --no-deps`` (none of rapidocr's
dependencies are installed) and the det model is extracted from it with
:mod:`zipfile`.  The model stores its weights in ``Constant`` nodes, as
PaddlePaddle exports do.  Run::

    python bench/fetch_ppocr.py            # -> the cache the tests look in
    python bench/fetch_ppocr.py -o DIR     # -> DIR/ch_PP-OCRv4_det_infer.onnx

The tests find the model through ``FACTORCHECK_PPOCR_DET`` (a path to the
``.onnx``) or, when that is unset, in :func:`default_path`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

#: The wheel's project and version (pinned so the model, and the numbers, do not change).
WHEEL = "rapidocr-onnxruntime==1.4.4"
#: The det model's path inside the wheel.
MEMBER = "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx"


def default_path() -> Path:
    """``$FACTORCHECK_PPOCR_DET``, else ``$XDG_CACHE_HOME/factorcheck/ch_PP-OCRv4_det_infer.onnx``.

    Examples
    --------
    >>> default_path().name
    'ch_PP-OCRv4_det_infer.onnx'
    """
    given = os.environ.get("FACTORCHECK_PPOCR_DET")
    if given:
        return Path(given)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "factorcheck" / Path(MEMBER).name


def fetch(target: Path) -> Path:
    """Download the wheel (no dependencies) and extract the det model to ``target``."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                        WHEEL, "-d", tmp], check=True)
        wheels = sorted(Path(tmp).glob("*.whl"))
        if len(wheels) != 1:
            raise SystemExit(f"expected one wheel from pip download, got {wheels}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            data = wheel.read(MEMBER)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    partial.write_bytes(data)
    partial.replace(target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output-dir", type=Path,
                        help="folder for the .onnx (default: the cache the tests use)")
    args = parser.parse_args()
    target = default_path() if args.output_dir is None else args.output_dir / Path(MEMBER).name
    if target.is_file():
        print(f"already present: {target}")
        return
    print(f"wrote {fetch(target)}")


if __name__ == "__main__":
    main()
