"""Issue 10, class 7: resources -- bounded memory and work, and scans linear in the layer count.

The speed itself is shown by ``bench/bench_scale.py`` (never a timed test);
here the causes are pinned: an .npz archive's directory is parsed once, a
PyTorch file is unpickled once, and zip bombs and expanded tensors are refused
or skipped before any work.
"""

from __future__ import annotations

import struct
import zipfile

import numpy as np
import pytest
from fixtures_models import require
from hostile_helpers import assert_clean_error, cli

import factorcheck.io.npy as npy
from factorcheck.errors import FileFormatError
from factorcheck.io import read_model
from factorcheck.scan import scan

GiB = 2**30


def _zeros_member(path, nbytes: int, name: str = "bomb.npy") -> None:
    """An .npz whose one member is ``nbytes`` of float32 zeros, deflated (a zip bomb)."""
    count = nbytes // 4
    header = np.lib.format.header_data_from_array_1_0(np.zeros(0, np.float32))
    header["shape"] = (count // 9, 1, 3, 3)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf, zf.open(name, "w",
                                                                        force_zip64=True) as fp:
        np.lib.format.write_array_header_1_0(fp, header)
        chunk = bytes(2**20)
        left = count // 9 * 9 * 4
        while left:
            fp.write(chunk[:min(left, len(chunk))])
            left -= min(left, len(chunk))


def _declare_size(path, size: int) -> None:
    """Patch the central directory to declare ``size`` uncompressed bytes (a lying archive)."""
    data = bytearray(path.read_bytes())
    at = data.rfind(b"PK\x01\x02")
    data[at + 24:at + 28] = struct.pack("<I", size)
    path.write_bytes(bytes(data))


def test_a_small_npz_declaring_a_1_gib_member_is_refused_at_once(tmp_path):
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("bomb.npy", bytes(2**20))
    _declare_size(path, GiB)
    assert path.stat().st_size < 10_000
    with pytest.raises(FileFormatError, match="zip bomb"):
        read_model(path)
    status, _, err = cli("check", path)
    assert_clean_error(status, err, "expands from", "--max-bytes")


def test_a_real_zip_bomb_is_refused_by_ratio_and_allowed_by_max_bytes(tmp_path):
    path = tmp_path / "bomb.npz"
    _zeros_member(path, 16 * 2**20)  # 16 MiB of zeros, about 16 kB compressed
    assert path.stat().st_size < 100_000
    status, _, err = cli("check", path, "--max-bytes", str(GiB // 4))  # floor 4 MiB
    assert_clean_error(status, err, "more than 100 times")
    status, out, err = cli("check", path, "--max-bytes", str(2 * GiB), "--order", "dw-pw")
    assert status == 0, err
    assert "1 layer analysed" in out


def test_report_takes_the_same_max_bytes_as_check(tmp_path):
    path = tmp_path / "bomb.npz"
    _zeros_member(path, 16 * 2**20)
    out = tmp_path / "r.json"
    status, _, err = cli("report", path, "-o", out, "--max-bytes", str(GiB // 4))
    assert_clean_error(status, err, "more than 100 times")
    assert not out.exists()
    status, _, err = cli("report", path, "-o", out, "--max-bytes", str(2 * GiB), "--order",
                         "dw-pw")
    assert status == 0, err
    assert '"canonical_shape": [' in out.read_text()


def test_the_default_limit_refuses_a_256_mib_bomb_before_decompressing(tmp_path):
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("bomb.npy", bytes(2**20))
    _declare_size(path, 256 * 2**20)
    status, _, err = cli("check", path)
    assert_clean_error(status, err, "more than 100 times", str(256 * 2**20 * 64))


def test_a_member_with_a_wrong_crc_is_refused(tmp_path):
    path = tmp_path / "liar.npz"
    np.savez_compressed(path, w=np.random.default_rng(3).normal(size=(64, 64, 3, 3)))
    data = bytearray(path.read_bytes())
    data = data.replace(struct.pack("<I", zipfile.ZipFile(path).getinfo("w.npy").CRC),
                        b"\0\0\0\0")
    path.write_bytes(bytes(data))
    with pytest.raises(FileFormatError, match=r"CRC"):
        read_model(path).kernels[0].load()


def test_ordinary_compressed_members_still_read(tmp_path):
    """Negative control: real weights compress about 1x and are read exactly."""
    rng = np.random.default_rng(1)
    arrays = {f"c{i}": rng.normal(size=(8, 4, 3, 3)) for i in range(5)}
    arrays["zeros"] = np.zeros((64, 64, 3, 3))  # compresses 500x but is small
    path = tmp_path / "m.npz"
    np.savez_compressed(path, **arrays)
    for kernel in read_model(path).kernels:
        assert np.array_equal(kernel.load(), arrays[kernel.name])


def test_npz_archive_directory_is_parsed_once(tmp_path, monkeypatch):
    """Today every member reopened the archive: 3000 layers took 33x the time of 300."""
    path = tmp_path / "many.npz"
    rng = np.random.default_rng(2)
    np.savez_compressed(path, **{f"l{i}": rng.normal(size=(2, 2, 3, 3)) for i in range(50)})
    opened = []
    real = zipfile.ZipFile

    def counting(*args, **kwargs):
        opened.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(npy.zipfile, "ZipFile", counting)
    result = scan(path, order="dw-pw")
    assert len(result.layers) == 50 and len(opened) == 1


def test_torch_file_is_unpickled_once(tmp_path, monkeypatch):
    torch = require("torch")
    import factorcheck.io.torch as io_torch

    path = tmp_path / "m.pt"
    torch.save({f"l{i}": torch.randn(2, 2, 3, 3) for i in range(30)}, path)
    calls = []
    real = io_torch._torch_load
    monkeypatch.setattr(io_torch, "_torch_load", lambda *a: calls.append(1) or real(*a))
    result = scan(path, order="dw-pw")
    assert len(result.layers) == 30 and len(calls) == 1


def test_expanded_torch_tensor_is_skipped_not_computed(tmp_path):
    """A 1.6 kB file with a stride-0 tensor took 26 s of CPU."""
    torch = require("torch")
    path = tmp_path / "expanded.pt"
    torch.save({"w": torch.ones(1, 1, 1, 1).expand(4096, 4096, 3, 3)}, path)
    assert path.stat().st_size < 4000
    result = scan(path)
    assert result.layers == ()
    (skip,) = result.skipped
    assert "expanded tensor" in skip.reason and "stride is 0" in skip.reason


def test_a_view_of_a_larger_storage_is_still_read(tmp_path):
    """Negative control: a slice shares a bigger storage; it is a normal tensor."""
    torch = require("torch")
    path = tmp_path / "view.pt"
    big = torch.randn(8, 2, 3, 3)
    torch.save({"half": big[:4]}, path)
    (record,) = scan(path).layers
    assert record.shape == (4, 2, 3, 3)
