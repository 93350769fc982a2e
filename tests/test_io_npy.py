"""Tests of factorcheck.io.npy and the format dispatcher: safe, checked .npy/.npz reading."""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import numpy.lib.format as npformat
import pytest
from hypothesis import given
from hypothesis import strategies as st

from factorcheck.errors import FileFormatError
from factorcheck.io import detect_format, read_model
from factorcheck.io.npy import load_npy, load_npz


def _npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def _header_bytes(shape: tuple[int, ...], descr: str = "<f4") -> bytes:
    buf = io.BytesIO()
    npformat.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()


class _Payload:
    """Unpickling this creates a marker file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


# --------------------------------------------------------------------------- .npy


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int8])
@pytest.mark.parametrize("shape", [(8, 3, 3, 3), (4, 2, 5)])
def test_npy_round_trip_is_memory_mapped(tmp_path, dtype, shape):
    array = np.arange(np.prod(shape)).reshape(shape).astype(dtype)
    path = tmp_path / "conv.npy"
    np.save(path, array)
    kernel, = load_npy(path).kernels
    loaded = kernel.load()
    assert (kernel.name, kernel.shape, kernel.dtype) == ("conv", shape, np.dtype(dtype).name)
    assert isinstance(loaded, np.memmap)
    np.testing.assert_array_equal(loaded, array)


def test_npy_fortran_order(tmp_path):
    array = np.asfortranarray(np.random.default_rng(0).standard_normal((4, 3, 3, 3)))
    path = tmp_path / "f.npy"
    np.save(path, array)
    np.testing.assert_array_equal(load_npy(path).kernels[0].load(), array)


def test_pickle_disguised_as_npy_is_refused_and_not_executed(tmp_path):
    marker = tmp_path / "PWNED"
    path = tmp_path / "model.npy"
    path.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(FileFormatError, match=r"not a valid \.npy"):
        read_model(path)
    assert not marker.exists()
    # The payload is live: unpickling it really would create the file.
    pickle.loads(path.read_bytes())
    assert marker.exists()


def test_object_array_is_refused_without_unpickling(tmp_path):
    marker = tmp_path / "PWNED"
    path = tmp_path / "obj.npy"
    np.save(path, np.array([_Payload(marker)], dtype=object), allow_pickle=True)
    with pytest.raises(FileFormatError, match="object arrays need pickle"):
        load_npy(path)
    assert not marker.exists()


def test_structured_dtype_is_refused(tmp_path):
    path = tmp_path / "s.npy"
    np.save(path, np.zeros((2, 2, 1, 1), dtype=[("a", "<f4"), ("b", "<i4")]))
    with pytest.raises(FileFormatError, match="structured dtype"):
        load_npy(path)


@pytest.mark.parametrize("dtype", ["<U3", "<c8", "?", "<M8[s]"])
def test_non_real_dtypes_are_refused(tmp_path, dtype):
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((2, 2, 1, 1), dtype=dtype))
    with pytest.raises(FileFormatError, match="expected a float or integer dtype"):
        load_npy(path)


@pytest.mark.parametrize("data_bytes", [0, 100, 4 * 2 * 3 * 3 * 3 - 1, 4 * 2 * 3 * 3 * 3 + 1])
def test_header_that_lies_about_the_size_is_refused(tmp_path, data_bytes):
    path = tmp_path / "lie.npy"
    path.write_bytes(_header_bytes((2, 3, 3, 3)) + b"\0" * data_bytes)
    with pytest.raises(FileFormatError, match=r"header declares shape \(2, 3, 3, 3\)"):
        load_npy(path)


def test_huge_declared_shape_is_refused_before_allocating(tmp_path):
    path = tmp_path / "huge.npy"
    path.write_bytes(_header_bytes((10**6, 10**6, 3, 3)) + b"\0" * 64)
    with pytest.raises(FileFormatError, match="exceeds the limit"):
        load_npy(path)


def test_max_bytes_is_enforced(tmp_path):
    path = tmp_path / "c.npy"
    np.save(path, np.zeros((8, 3, 3, 3), np.float32))
    load_npy(path, max_bytes=8 * 27 * 4)
    with pytest.raises(FileFormatError, match="raise max_bytes"):
        load_npy(path, max_bytes=8 * 27 * 4 - 1)


def test_truncated_npy_is_refused(tmp_path):
    path = tmp_path / "t.npy"
    path.write_bytes(_npy_bytes(np.ones((4, 3, 3, 3)))[:-8])
    with pytest.raises(FileFormatError, match="holds 856 bytes"):
        load_npy(path)


def test_npy_of_wrong_rank_is_refused(tmp_path):
    path = tmp_path / "bias.npy"
    np.save(path, np.zeros(8))
    with pytest.raises(FileFormatError, match="expected a 3-D or 4-D"):
        load_npy(path)


# --------------------------------------------------------------------------- .npz


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed])
def test_npz_lists_conv_weights_and_reads_them(tmp_path, save):
    rng = np.random.default_rng(1)
    arrays = {"a.conv": rng.standard_normal((8, 3, 3, 3)).astype(np.float32),
              "b.bias": np.zeros(8), "c.conv1d": rng.standard_normal((4, 2, 5))}
    path = tmp_path / "m.npz"
    save(path, **arrays)
    contents = load_npz(path)
    assert [k.name for k in contents.kernels] == ["a.conv", "c.conv1d"]
    for kernel in contents.kernels:
        np.testing.assert_array_equal(kernel.load(), arrays[kernel.name])
    stored = isinstance(contents.kernels[0].load(), np.memmap)
    assert stored == (save is np.savez)


def test_npz_non_npy_member_is_listed_as_skipped(tmp_path):
    path = tmp_path / "m.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("w.npy", _npy_bytes(np.ones((2, 2, 3, 3))))
        zf.writestr("notes.txt", "hello")
    contents = load_npz(path)
    assert [k.name for k in contents.kernels] == ["w"]
    assert [(s.name, s.reason) for s in contents.skipped] == [("notes.txt", "not a .npy member")]


def test_zip_bomb_is_refused_by_declared_size(tmp_path):
    path = tmp_path / "bomb.npz"
    np.savez_compressed(path, w=np.zeros((64, 64, 64, 64), np.float32))  # 64 MiB of zeros
    assert path.stat().st_size < 1_000_000
    with pytest.raises(FileFormatError, match="zip bomb"):
        load_npz(path, max_bytes=2**20)


def test_npz_member_whose_header_disagrees_with_its_size_is_refused(tmp_path):
    path = tmp_path / "lie.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("w.npy", _header_bytes((100, 100, 3, 3)) + b"\0" * 64)
    with pytest.raises(FileFormatError, match=r"member 'w\.npy': header declares"):
        load_npz(path)


def test_npz_object_member_is_refused_without_unpickling(tmp_path):
    marker = tmp_path / "PWNED"
    path = tmp_path / "obj.npz"
    np.savez(path, w=np.array([_Payload(marker)], dtype=object))
    with pytest.raises(FileFormatError, match="object arrays need pickle"):
        load_npz(path)
    assert not marker.exists()


def test_corrupted_compressed_member_is_refused_on_read(tmp_path):
    path = tmp_path / "c.npz"
    np.savez_compressed(path, w=np.random.default_rng(0).standard_normal((16, 8, 3, 3)))
    data = bytearray(path.read_bytes())
    data[200:260] = bytes(60)  # inside the deflate stream, after the member's header
    path.write_bytes(bytes(data))
    with pytest.raises(FileFormatError):
        for kernel in read_model(path).kernels:
            kernel.load()


# --------------------------------------------------------------------------- dispatch


def test_detect_format_by_extension_then_content(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((1, 1, 1, 1)))
    np.savez(tmp_path / "b.npz", w=np.zeros((1, 1, 1, 1)))
    os.rename(tmp_path / "a.npy", tmp_path / "a.weights")
    os.rename(tmp_path / "b.npz", tmp_path / "b.weights")
    assert detect_format(tmp_path / "a.weights") == "npy"
    assert detect_format(tmp_path / "b.weights") == "npz"


def test_unknown_and_missing_files_are_clear_errors(tmp_path):
    (tmp_path / "x.dat").write_bytes(b"hello world, not a model")
    with pytest.raises(FileFormatError, match="unrecognised model file"):
        read_model(tmp_path / "x.dat")
    with pytest.raises(FileFormatError, match="no such file"):
        read_model(tmp_path / "missing.npy")
    with pytest.raises(FileFormatError, match="expected a regular file"):
        read_model(tmp_path)


def _read_all(path: Path) -> None:
    for kernel in read_model(path).kernels:
        kernel.load()


@given(data=st.binary(max_size=300))
def test_arbitrary_bytes_as_npy_give_only_file_format_errors(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("h") / "x.npy"
    path.write_bytes(data)
    with pytest.raises(FileFormatError):
        _read_all(path)


@given(prefix=st.integers(0, 400), garbage=st.binary(min_size=1, max_size=40))
def test_mangled_npz_gives_only_file_format_errors_or_reads(tmp_path_factory, prefix, garbage):
    good = io.BytesIO()
    np.savez_compressed(good, w=np.arange(2 * 3 * 3 * 3, dtype=np.float32).reshape(2, 3, 3, 3))
    data = bytearray(good.getvalue())
    data[prefix:prefix + len(garbage)] = garbage
    path = tmp_path_factory.mktemp("h") / "x.npz"
    path.write_bytes(bytes(data))
    try:
        _read_all(path)
    except FileFormatError:
        pass
