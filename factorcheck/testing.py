"""Makers of valid test kernels with known answers, for this package's tests and yours.

Every maker takes a NumPy ``Generator`` (or a seed) so results are
reproducible, and builds kernels in canonical OIHW unless told otherwise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from factorcheck.errors import FactorcheckError
from factorcheck.kernel import check_layout, from_canonical
from factorcheck.separability import ORDERS

__all__ = ["kernel_with_spectrum", "near_separable_kernel", "one_conv_onnx",
           "random_separable_kernel"]


def _rng(rng: Any) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _slice_layout(shape: tuple[int, ...], order: str) -> tuple[int, int, int, int, int]:
    """``(n, m, kh, kw, slice count)`` for a 4-D or 3-D canonical shape."""
    if len(shape) not in (3, 4) or min(shape) < 1:
        raise FactorcheckError(f"expected a 3-D or 4-D shape of positive sizes, got {shape}")
    if order not in ORDERS:
        raise FactorcheckError(f"unknown order {order!r}; expected one of {list(ORDERS)}")
    n, m, *spatial = shape
    kh, kw = (1, spatial[0]) if len(spatial) == 1 else spatial
    return n, m, kh, kw, (m if order == "dw-pw" else n)


def _from_slices(slices: np.ndarray, shape: tuple[int, ...], order: str, layout: str) -> np.ndarray:
    """Assemble slice matrices (count, rows, kh*kw) into a kernel of ``shape`` in ``layout``."""
    n, m, kh, kw, _ = _slice_layout(shape, order)
    if order == "dw-pw":
        canonical = slices.reshape(m, n, kh, kw).transpose(1, 0, 2, 3)
    else:
        canonical = slices.reshape(n, m, kh, kw)
    return from_canonical(np.ascontiguousarray(canonical), check_layout(layout), len(shape))


def random_separable_kernel(
    shape: tuple[int, ...],
    *,
    multiplier: int = 1,
    order: str = "dw-pw",
    rng: Any = None,
    dtype: Any = np.float64,
    layout: str = "OIHW",
) -> np.ndarray:
    """A random kernel that is exactly a sum of ``multiplier`` DSCs in ``order``.

    ``shape`` is canonical (OIHW, or OIW for 1-D); the result is returned in
    ``layout``.  Entries are Gaussian products ``sum_r mu_ijr b_jr``.

    Examples
    --------
    >>> import factorcheck
    >>> k = random_separable_kernel((16, 3, 3, 3), rng=0)
    >>> factorcheck.analyze(k).min_multiplier
    1
    >>> factorcheck.analyze(random_separable_kernel((8, 4, 5), multiplier=2, rng=1)).min_multiplier
    2
    """
    n, m, kh, kw, count = _slice_layout(tuple(shape), order)
    gen = _rng(rng)
    rows = n if order == "dw-pw" else m
    mu = gen.standard_normal((count, rows, multiplier))
    b = gen.standard_normal((count, multiplier, kh * kw))
    return _from_slices(mu @ b, tuple(shape), order, layout).astype(dtype)


def kernel_with_spectrum(
    shape: tuple[int, ...],
    singular_values: Any,
    *,
    order: str = "dw-pw",
    rng: Any = None,
    layout: str = "OIHW",
) -> np.ndarray:
    """A float64 kernel whose every slice has the given singular values.

    ``singular_values`` has one row per slice (or one row for all), of
    length ``min(rows, kh*kw)``; the singular vectors are random orthonormal.

    Examples
    --------
    >>> import numpy as np, factorcheck
    >>> k = kernel_with_spectrum((6, 2, 2, 2), [4.0, 3.0, 0.0, 0.0], rng=0)
    >>> a = factorcheck.analyze(k)
    >>> a.min_multiplier, round(a.distance, 12)
    (2, 4.242640687119)
    """
    n, m, kh, kw, count = _slice_layout(tuple(shape), order)
    rows, cols = (n if order == "dw-pw" else m), kh * kw
    k = min(rows, cols)
    sigma = np.broadcast_to(np.asarray(singular_values, dtype=np.float64), (count, k))
    gen = _rng(rng)
    u, _ = np.linalg.qr(gen.standard_normal((count, rows, k)))
    v, _ = np.linalg.qr(gen.standard_normal((count, cols, k)))
    slices = (u * sigma[:, None, :]) @ v.swapaxes(1, 2)
    return _from_slices(slices, tuple(shape), order, layout)


def near_separable_kernel(
    shape: tuple[int, ...],
    relative_distance: float,
    *,
    multiplier: int = 1,
    order: str = "dw-pw",
    rng: Any = None,
    layout: str = "OIHW",
) -> tuple[np.ndarray, float]:
    """A kernel at a known relative distance from the nearest separable one.

    Returns ``(kernel, distance)``: the kernel has unit Frobenius norm per
    slice scaled randomly, and the Frobenius distance to the nearest kernel
    with ``multiplier`` terms per slice is ``distance`` (its relative distance
    is ``relative_distance``), by construction of its singular values.

    Examples
    --------
    >>> import factorcheck
    >>> k, dist = near_separable_kernel((16, 4, 3, 3), 1e-3, rng=0)
    >>> a = factorcheck.analyze(k)
    >>> a.separable, abs(a.distance - dist) < 1e-12, round(a.relative_distance, 9)
    (False, True, 0.001)
    """
    if not 0 <= relative_distance < 1:
        raise FactorcheckError(f"relative_distance must be in [0, 1), got {relative_distance}")
    n, m, kh, kw, count = _slice_layout(tuple(shape), order)
    k = min(n if order == "dw-pw" else m, kh * kw)
    if multiplier >= k and relative_distance > 0:
        raise FactorcheckError(f"every slice has rank <= {k}: no kernel is {multiplier} terms away")
    gen = _rng(rng)
    head = np.sort(gen.uniform(1.0, 2.0, (count, multiplier)))[:, ::-1]
    tail = np.sort(gen.uniform(0.5, 1.0, (count, k - multiplier)))[:, ::-1]
    # scale every tail by one factor t so that |tail|^2 t^2 / (|head|^2 + |tail|^2 t^2) = r^2
    h2, t2, r2 = (head**2).sum(), (tail**2).sum(), relative_distance**2
    t = np.sqrt(r2 * h2 / ((1 - r2) * t2)) if t2 > 0 else 0.0
    sigma = np.concatenate([head, tail * t], axis=1)
    kernel = kernel_with_spectrum(shape, sigma, order=order, rng=gen, layout=layout)
    return kernel, float(np.sqrt((sigma[:, multiplier:] ** 2).sum()))


def one_conv_onnx(
    path: Any,
    shape: tuple[int, int, int, int] = (8, 4, 3, 3),
    *,
    input_hw: tuple[int, int] = (12, 12),
    bias: bool = False,
    stride: int = 1,
    dilation: int = 1,
    pad: int = 1,
    constant: bool = False,
    rng: Any = 0,
) -> str:
    """Write an ONNX model of one ``Conv`` (Gaussian float32 weight, input ``x`` of 1 x M x H x W).

    ``constant=True`` stores the weight in a ``Constant`` node (as PaddlePaddle
    exports do) instead of an initializer.  Needs the ``onnx`` package.

    Examples
    --------
    >>> import os, tempfile, onnx
    >>> path = one_conv_onnx(os.path.join(tempfile.mkdtemp(), "m.onnx"), bias=True)
    >>> [n.op_type for n in onnx.load(path).graph.node], len(onnx.load(path).graph.initializer)
    (['Conv'], 2)
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    gen = _rng(rng)
    n, m, kh, kw = shape
    out_hw = [(size + 2 * pad - dilation * (k - 1) - 1) // stride + 1
              for size, k in zip(input_hw, (kh, kw), strict=True)]
    weight = numpy_helper.from_array(gen.normal(size=shape).astype(np.float32), "w")
    inits = [] if constant else [weight]
    nodes = [helper.make_node("Constant", [], ["w"], value=weight)] if constant else []
    inputs = ["x", "w"]
    if bias:
        inits.append(numpy_helper.from_array(gen.normal(size=n).astype(np.float32), "b"))
        inputs.append("b")
    nodes.append(helper.make_node("Conv", inputs, ["y"], name="conv", kernel_shape=[kh, kw],
                                  strides=[stride] * 2, dilations=[dilation] * 2,
                                  pads=[pad] * 4))
    graph = helper.make_graph(
        nodes, "one_conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                          [1, m, *input_hw])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, n, *out_hw])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, path)
    return str(path)
