"""The network tables the rewrite reuses, wherever they live.

``factorcheck/onnx_network.py`` is moving to ``factorcheck/network/``; this
module imports :func:`onnx_table` (per-layer shapes and MACs, as
``factorcheck network`` prints them) and :func:`conv_pads` (a Conv node's
padding, ``auto_pad`` included) from the new place, or from the old one.
Once the move is merged the fallback can go.
"""

try:
    from factorcheck.network.onnx import onnx_table
    from factorcheck.network.shapes import conv_pads
except ImportError:  # before the move
    from factorcheck.onnx_network import _onnx_padding as conv_pads
    from factorcheck.onnx_network import onnx_table

__all__ = ["conv_pads", "onnx_table"]
