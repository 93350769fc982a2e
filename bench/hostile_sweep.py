"""Throw a few hundred malformed or hostile inputs at the factorcheck CLI and library.

Every case runs in a forked child with a time limit and an address-space limit,
and its outcome is classified:

clean error
    exit status 2 (or a :class:`~factorcheck.FactorcheckError` from the
    library) with a message and no traceback;
right answer
    it ran, and the result matches what the case expects;
answered
    it ran without a traceback and the case states no expectation (a mutated
    file whose bytes may or may not still mean something);
traceback, hang, out of memory
    a crash: any other exception, over the time limit, or MemoryError/killed;
silent wrong
    it ran, but the result contradicts the expectation (or raw terminal
    control bytes reached the output).

Run with ``python bench/hostile_sweep.py [--timeout S] [--verbose]``; it prints
the counts per outcome and every case that crashed or was silently wrong, and
exits 1 if there was any.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # forking after a thread pool exists can hang
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import io
import json
import resource
import signal
import stat
import sys
import tempfile
import time
import traceback
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

import factorcheck
from factorcheck.cli import build_parser, main
from factorcheck.errors import FactorcheckError

MEMORY_LIMIT = 3 * 2**30
CLEAN, RIGHT, ANSWERED = "clean error", "right answer", "answered"
TRACEBACK, HANG, OOM, WRONG = "traceback", "hang", "out of memory", "silent wrong"
CRASHES = (TRACEBACK, HANG, OOM, WRONG)
_EXIT_TRACEBACK, _EXIT_OOM = 99, 98


@dataclass
class Case:
    """One hostile input: a callable returning an exit status, and an optional expectation."""

    name: str
    run: Callable[[], int]
    expect: Callable[[int, str, str], bool] | None = None


# ---------------------------------------------------------------- running


def _child(case: Case, out_path: str, err_path: str) -> None:  # pragma: no cover
    status = _EXIT_TRACEBACK
    try:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
        out, err = open(out_path, "w"), open(err_path, "w")
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        sys.stdout, sys.stderr = out, err
        status = case.run()
    except SystemExit as done:
        status = done.code if isinstance(done.code, int) else 2
    except FactorcheckError as error:
        print(f"error: {error}", file=sys.stderr)
        status = 2
    except MemoryError:
        status = _EXIT_OOM
    except BaseException:
        traceback.print_exc()
        status = _EXIT_TRACEBACK
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(status if 0 <= status < 256 else _EXIT_TRACEBACK)


def run_case(case: Case, timeout: float, folder: str) -> tuple[str, str]:
    """Run one case in a forked child; return ``(outcome, detail)``."""
    out_path, err_path = os.path.join(folder, "out"), os.path.join(folder, "err")
    pid = os.fork()
    if pid == 0:  # pragma: no cover
        _child(case, out_path, err_path)
    deadline = time.monotonic() + timeout
    while True:
        done, wait = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return HANG, f"over {timeout:g} s"
        time.sleep(0.005)
    out = Path(out_path).read_text(errors="replace")
    err = Path(err_path).read_text(errors="replace")
    if os.WIFSIGNALED(wait):
        return OOM, f"killed by signal {os.WTERMSIG(wait)}"
    status = os.WEXITSTATUS(wait)
    return _classify(case, status, out, err)


def _classify(case: Case, status: int, out: str, err: str) -> tuple[str, str]:
    last = (err.strip().splitlines() or [""])[-1][:160]
    if status == _EXIT_OOM or "MemoryError" in err:
        return OOM, last
    if "Traceback" in err or status == _EXIT_TRACEBACK:
        return TRACEBACK, last
    if "\x1b" in out + err or "\x07" in out + err:
        return WRONG, "raw control bytes reached the terminal"
    if status == 2:
        return CLEAN, last
    if case.expect is None:
        return ANSWERED, f"exit {status}"
    return (RIGHT, f"exit {status}") if case.expect(status, out, err) else (
        WRONG, f"exit {status}: {out.strip()[-160:]}")


# ---------------------------------------------------------------- models


RNG = np.random.default_rng(2026)
SEPARABLE = np.einsum("ij,jhw->ijhw", RNG.normal(size=(8, 4)), RNG.normal(size=(4, 3, 3)))
RANDOM = RNG.normal(size=(8, 4, 3, 3))
ESC = "\x1b]0;owned\x07\x1b[31m"


def _base_models(folder: Path) -> dict[str, Path]:
    """One valid model per format: 'sep' separable, 'rand' not."""
    import onnx
    import torch
    from onnx import TensorProto, helper, numpy_helper
    from safetensors.numpy import save_file

    layers = {"sep": SEPARABLE.astype(np.float32), "rand": RANDOM.astype(np.float32)}
    paths = {f: folder / f"base.{f}" for f in ("npy", "npz", "safetensors", "onnx", "pt")}
    np.save(paths["npy"], layers["sep"])
    np.savez(paths["npz"], **layers)
    paths["npzc"] = folder / "basec.npz"
    np.savez_compressed(paths["npzc"], **layers)
    save_file(layers, str(paths["safetensors"]))
    torch.save({k: torch.from_numpy(v) for k, v in layers.items()}, paths["pt"])
    nodes = [helper.make_node("Conv", ["x", "sep"], ["h"], name="sep", pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["x", "rand"], ["y"], name="rand", pads=[1, 1, 1, 1])]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])],
        [helper.make_tensor_value_info("h", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(v, k) for k, v in layers.items()])
    onnx.save(helper.make_model(graph), paths["onnx"])
    return paths


def _expect_check(separable: int, total: int) -> Callable[[int, str, str], bool]:
    def expect(status: int, out: str, err: str) -> bool:
        data = json.loads(out)
        s = data["summary"]
        return status == 0 and s["counted"] == total and s["dw_pw"]["separable"] == separable
    return expect


def _expect(layers: int, skipped: int = 0, separable: int | None = None,
            in_err: str = "") -> Callable[[int, str, str], bool]:
    """Exit 0, and the JSON lists ``layers`` analysed and ``skipped`` skipped layers."""
    def expect(status: int, out: str, err: str) -> bool:
        data = json.loads(out)
        found = data["summary"]
        return (status == 0 and found["layers"] == layers and found["skipped"] == skipped
                and (separable is None or found["dw_pw"]["separable"] == separable)
                and in_err in err)
    return expect


def _check(path: Path, *extra: str) -> Callable[[], int]:
    return lambda: main(["check", str(path), "--json", *extra])


def _mutations(name: str, path: Path, folder: Path) -> list[Case]:
    """Truncations and byte flips of a valid model (no expectation: they may still be valid)."""
    data = path.read_bytes()
    cases = []
    for fraction in (0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99):
        target = folder / f"trunc-{name}-{fraction}{path.suffix}"
        target.write_bytes(data[:int(len(data) * fraction)])
        cases.append(Case(f"{name}: truncated to {fraction:.0%}", _check(target)))
    rng = np.random.default_rng(len(data))
    for i in range(14):
        mutated = bytearray(data)
        # the first flips hit the header, where structure lives; the rest anywhere
        at = int(rng.integers(0, min(len(data), 256) if i < 8 else len(data)))
        mutated[at] ^= int(rng.integers(1, 256))
        target = folder / f"flip-{name}-{i}{path.suffix}"
        target.write_bytes(bytes(mutated))
        cases.append(Case(f"{name}: byte {at} flipped", _check(target)))
    target = folder / f"garbage-{name}{path.suffix}"
    target.write_bytes(rng.integers(0, 256, 2048, dtype=np.uint8).tobytes())
    cases.append(Case(f"{name}: random bytes", _check(target)))
    return cases


def _file_cases(folder: Path) -> list[Case]:
    base = _base_models(folder)
    cases = []
    for name, path in base.items():
        total, separable = (1, 1) if name == "npy" else (2, 1)
        cases.append(Case(f"{name}: valid model", _check(path), _expect_check(separable, total)))
        cases += _mutations(name, path, folder)
    return cases + _crafted_files(folder) + _crafted_onnx(folder) + _crafted_torch(folder)


def _npy_header(folder: Path, name: str, header: str, payload: bytes = b"") -> Path:
    text = header.encode("latin1")
    pad = 64 - (10 + len(text) + 1) % 64
    blob = b"\x93NUMPY\x01\x00" + np.uint16(len(text) + pad + 1).tobytes() + text + \
        b" " * pad + b"\n" + payload
    path = folder / f"{name}.npy"
    path.write_bytes(blob)
    return path


def _crafted_files(folder: Path) -> list[Case]:
    cases = []
    headers = {
        "negative dim": "{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 2, 3, 3), }",
        "huge dims": "{'descr': '<f4', 'fortran_order': False, 'shape': (2**40, 2**40, 3, 3), }",
        "object dtype": "{'descr': '|O', 'fortran_order': False, 'shape': (1, 1, 1, 1), }",
        "structured": "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,1,1,1), }",
        "code in header": "{'descr': __import__('os').system('true'), 'shape': (1,), }",
        "not a dict": "[1, 2, 3]",
        "bad descr": "{'descr': '<q99', 'fortran_order': False, 'shape': (1, 1, 1, 1), }",
        "float shape": "{'descr': '<f4', 'fortran_order': False, 'shape': (1.5, 1, 1, 1), }",
    }
    for label, header in headers.items():
        path = _npy_header(folder, label.replace(" ", "_"), header, b"\0" * 64)
        cases.append(Case(f"npy: {label}", _check(path)))
    arrays = {
        "nan": np.where(np.arange(72).reshape(2, 4, 3, 3) == 5, np.nan, 1.0),
        "inf": np.where(np.arange(72).reshape(2, 4, 3, 3) == 5, np.inf, 1.0),
        "complex": np.ones((2, 2, 3, 3), complex), "bool": np.ones((2, 2, 3, 3), bool),
        "5-D": np.ones((2, 2, 3, 3, 3)), "0-D": np.array(1.0), "empty": np.ones((0, 2, 3, 3)),
        "float16 max": np.full((2, 2, 3, 3), np.finfo(np.float16).max, np.float16),
        "float32 max": np.full((2, 2, 3, 3), np.finfo(np.float32).max, np.float32),
        "subnormal": np.full((2, 2, 3, 3), 5e-324),
        "int8 min": np.full((2, 2, 3, 3), -128, np.int8),
        "uint64 max": np.full((2, 2, 3, 3), 2**64 - 1, np.uint64),
        "big-endian": np.ones((2, 2, 3, 3), ">f8"), "fortran": np.asfortranarray(RANDOM),
        "keras layout": np.ones((3, 3, 32, 64), np.float32),
        "one layer 1x1": np.ones((1, 1, 1, 1)),
    }
    expected = {"nan": _expect(0, 1), "inf": _expect(0, 1), "empty": _expect(0, 1),
                "float16 max": _expect(1, 0, 1), "float32 max": _expect(1, 0, 1),
                "subnormal": _expect(1, 0, 1), "int8 min": _expect(1, 0, 1),
                "uint64 max": _expect(1, 0, 1), "big-endian": _expect(1, 0, 1),
                "fortran": _expect(1, 0, 0), "keras layout": _expect(1, 0, 1, "--layout HWIO"),
                "one layer 1x1": _expect(1, 0, 0)}
    for label, array in arrays.items():
        path = folder / f"arr_{label.replace(' ', '_')}.npy"
        np.save(path, array)
        cases.append(Case(f"npy: {label}", _check(path), expected.get(label)))
    dup = folder / "dup.npz"
    with zipfile.ZipFile(dup, "w") as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for array in (SEPARABLE, RANDOM):
            buffer = io.BytesIO()
            np.save(buffer, array)
            zf.writestr("w.npy", buffer.getvalue())
    cases.append(Case("npz: duplicate member names", _check(dup)))
    bomb = folder / "bomb.npz"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("bomb.npy", bytes(2**20))
    raw = bytearray(bomb.read_bytes())
    at = raw.rfind(b"PK\x01\x02")
    raw[at + 24:at + 28] = (2**30).to_bytes(4, "little")
    bomb.write_bytes(bytes(raw))
    cases.append(Case("npz: declares a 1 GiB member", _check(bomb)))
    evil_names = folder / "names.npz"
    np.savez(evil_names, **{f"w{ESC}": SEPARABLE, "../../etc/passwd": RANDOM})
    cases.append(Case("npz: names with ESC and ..", _check(evil_names), _expect_check(1, 2)))
    many = folder / "many.npz"
    np.savez(many, **{f"l{i}": SEPARABLE for i in range(400)})
    cases.append(Case("npz: 400 layers", _check(many), _expect_check(400, 400)))
    for label, header in {"length past end": b"\xff" * 8 + b"{}",
                          "not json": (8).to_bytes(8, "little") + b"{{{{{{{{",
                          "overlapping": None}.items():
        path = folder / f"st_{label.replace(' ', '_')}.safetensors"
        if header is None:
            text = json.dumps({"a": {"dtype": "F32", "shape": [2, 2, 3, 3],
                                     "data_offsets": [0, 144]},
                               "b": {"dtype": "F32", "shape": [2, 2, 3, 3],
                                     "data_offsets": [0, 144]}}).encode()
            header = len(text).to_bytes(8, "little") + text + b"\0" * 144
        path.write_bytes(header)
        cases.append(Case(f"safetensors: {label}", _check(path)))
    cases.append(Case("input: a directory", _check(folder)))
    cases.append(Case("input: missing", _check(folder / "nope.onnx")))
    fifo = folder / "fifo.npy"
    os.mkfifo(fifo)
    cases.append(Case("input: a FIFO", _check(fifo)))
    loop = folder / "loop.npy"
    loop.symlink_to(loop)
    cases.append(Case("input: a symlink loop", _check(loop)))
    cases.append(Case("input: /dev/zero", _check(Path("/dev/zero"))))
    return cases


def _onnx_file(folder: Path, name: str, nodes, inits, inputs=None, **kwargs) -> Path:
    import onnx
    from onnx import TensorProto, helper

    inputs = inputs or [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])]
    graph = helper.make_graph(nodes, "g", inputs,
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              inits)
    path = folder / f"{name}.onnx"
    onnx.save(helper.make_model(graph, **kwargs), path)
    return path


def _crafted_onnx(folder: Path) -> list[Case]:
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(SEPARABLE.astype(np.float32), "w")
    cases = []
    attributes = {"stride 0": {"strides": [0, 0]}, "3 strides": {"strides": [1, 1, 1]},
                  "negative pads": {"pads": [-1, 0, 0, 0]}, "dilation 0": {"dilations": [0, 1]},
                  "SAME_UPPER stride 0": {"auto_pad": "SAME_UPPER", "strides": [0, 0]},
                  "SAME_LOWER 1 stride": {"auto_pad": "SAME_LOWER", "strides": [2]},
                  "group 3": {"group": 3}, "group 2 vs input": {"group": 2},
                  "group 0": {"group": 0}, "group -1": {"group": -1},
                  "auto_pad bogus": {"auto_pad": "BOGUS"}, "huge stride": {"strides": [2**62, 1]}}
    for label, attrs in attributes.items():
        path = _onnx_file(folder, label.replace(" ", "_"),
                          [helper.make_node("Conv", ["x", "w"], ["y"], name="c", **attrs)], [w])
        cases += [Case(f"onnx check: {label}", _check(path),
                       _expect(1, 0) if label == "huge stride" else _expect(0, 1)),
                  Case(f"onnx network: {label}", lambda p=path: main(["network", str(p)]))]
    good = _onnx_file(folder, "good", [helper.make_node("Conv", ["x", "w"], ["y"], name="c")],
                      [w])
    for shape in ("1x4x9223372036854775808x8", "0x4x8x8", "1x4x8", "1x4x8x8x8x8x8x8x8",
                  "axbxc", "1x4x" + "9" * 5000 + "x8", "1x5x8x8"):
        cases.append(Case(f"onnx network --input-shape {shape[:30]}",
                          lambda s=shape: main(["network", str(good), "--input-shape", s])))
    external = numpy_helper.from_array(SEPARABLE.astype(np.float32), "w")
    external.ClearField("raw_data")
    external.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "../../../../etc/passwd"), ("offset", "0")):
        entry = external.external_data.add()
        entry.key, entry.value = key, value
    path = _onnx_file(folder, "external", [helper.make_node("Conv", ["x", "w"], ["y"])],
                      [external])
    cases.append(Case("onnx: external data outside the folder", _check(path)))
    body = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["t"], name="inner")], "b",
                             [], [helper.make_tensor_value_info("t", TensorProto.FLOAT, None)])
    path = _onnx_file(folder, "if", [helper.make_node(
        "If", ["cond"], ["y"], name="if", then_branch=body, else_branch=body)], [w])
    cases.append(Case("onnx: Convs in If branches", _check(path), _expect_check(2, 2)))
    (folder / "empty.onnx").write_bytes(b"")
    cases.append(Case("onnx: 0 bytes", _check(folder / "empty.onnx")))
    path = _onnx_file(folder, "nodeless", [], [w])
    cases.append(Case("onnx: no nodes", _check(path)))
    path = _onnx_file(folder, f"esc{ESC}", [helper.make_node("Conv", ["x", "w"], ["y"],
                                                             name=f"c{ESC}")], [w])
    cases.append(Case("onnx: ESC in node and file name", _check(path), _expect_check(1, 1)))
    return cases


def _crafted_torch(folder: Path) -> list[Case]:
    import pickle

    import torch

    cases = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantized = torch.quantize_per_tensor(torch.ones(4, 2, 3, 3), 0.1, 0, torch.qint8)
    deep: dict = {"w": torch.ones(4, 2, 3, 3)}
    for _ in range(30):
        deep = {"m": deep}
    objects = {"expanded": {"w": torch.ones(1, 1, 1, 1).expand(4096, 4096, 3, 3)},
               "sparse": {"w": torch.ones(4, 2, 3, 3).to_sparse()},
               "meta": {"w": torch.empty(4, 2, 3, 3, device="meta")},
               "quantized": {"w": quantized}, "deep": deep,
               "complex": {"w": torch.ones(4, 2, 3, 3, dtype=torch.complex64)},
               "int": {"w": torch.ones(4, 2, 3, 3, dtype=torch.int64)},
               "bfloat16": {"w": torch.ones(4, 2, 3, 3, dtype=torch.bfloat16)},
               "float8": {"w": torch.ones(4, 2, 3, 3).to(torch.float8_e4m3fn)},
               "esc key": {f"w{ESC}": torch.ones(4, 2, 3, 3)},
               "list": [torch.ones(4, 2, 3, 3)], "bare tensor": torch.ones(4, 2, 3, 3)}
    analysed = {"int", "bfloat16", "esc key", "list", "bare tensor"}
    for label, obj in objects.items():
        path = folder / f"t_{label.replace(' ', '_')}.pt"
        torch.save(obj, path)
        expect = _expect(1, 0, 1) if label in analysed else _expect(0, 1)
        cases.append(Case(f"torch: {label}", _check(path), expect))

    class Evil:
        def __reduce__(self):
            return (os.system, ("touch /tmp/factorcheck-sweep-pwned",))

    path = folder / "evil.pt"
    with open(path, "wb") as fp:
        pickle.dump({"w": Evil()}, fp)
    cases.append(Case("torch: pickle running os.system",
                      lambda: _pwned_check(path)))
    return cases


def _pwned_check(path: Path) -> int:
    status = main(["check", str(path)])
    if os.path.exists("/tmp/factorcheck-sweep-pwned"):
        raise AssertionError("the pickle ran code")
    return status


# ---------------------------------------------------------------- arguments


def _argument_cases(folder: Path) -> list[Case]:
    model = folder / "arg.npy"
    np.save(model, SEPARABLE)
    bad = ["0", "-1", "nan", "inf", "-inf", "1e999999999", "abc", "", " ", "9" * 5000,
           str(2**64), "3x", "x3", "3x3x3", "\u0663", "1/0", ESC]
    cases = []
    cost = ["cost", "--input", "8", "--kernel", "3", "-m", "3", "-n", "4"]
    for option in ("--input", "--kernel", "--stride", "--dilation", "--padding", "-m",
                   "--multiplier"):
        for value in bad[:12]:
            argv = [*cost, option, value]
            cases.append(Case(f"cost {option} {value[:20]!r}", lambda a=argv: main(a)))
    for option in ("--alpha", "--resolution"):
        for value in bad:
            argv = ["network", "mobilenet-v1", option, value]
            cases.append(Case(f"network {option} {value[:20]!r}", lambda a=argv: main(a)))
    for option in ("--multiplier", "--rtol", "--max-bytes", "--layer", "--layout", "--order"):
        for value in bad[:10]:
            argv = ["check", str(model), option, value]
            cases.append(Case(f"check {option} {value[:20]!r}", lambda a=argv: main(a)))
    for value in ("nan", "inf", "-1", "0", "1e999", "abc"):
        argv = ["report", "--timeout", value, "--format", "md"]
        cases.append(Case(f"report --timeout {value}", lambda a=argv: main(a)))
    outputs = {"missing folder": str(folder / "no" / "r.tex"), "directory": str(folder),
               "the input": str(model), "input via symlink": None,
               "unknown suffix": str(folder / "r.npy"),
               "/dev/null": str(_device(folder, "null", 3)),
               "/dev/full": str(_device(folder, "full", 7)), "empty": ""}
    link = folder / "link.tex"
    link.symlink_to(model)
    outputs["input via symlink"] = str(link)
    original = model.read_bytes()
    for label, target in outputs.items():
        argv = ["report", str(model), "-o", target]
        cases.append(Case(f"report -o {label}",
                          lambda a=argv, m=model, data=original: _unchanged(a, m, data)))
    cases.append(Case("network: unknown name with ESC", lambda: main(["network", f"n{ESC}"])))
    cases.append(Case("check --layer ESC", lambda: main(["check", str(model), "--layer", ESC])))
    return cases


def _device(folder: Path, name: str, minor: int) -> Path:
    """A private /dev/null or /dev/full when root: a regression must not replace the real one.

    Without root nothing in /dev can be replaced, so the real device is used.
    """
    if os.getuid() != 0:
        return Path("/dev") / name
    path = folder / f"dev-{name}"
    os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, minor))
    return path


def _unchanged(argv: list[str], model: Path, data: bytes) -> int:
    model.write_bytes(data)  # each case starts from the original, whatever the last one did
    status = main(argv)
    if model.read_bytes() != data:
        raise AssertionError(f"{model} was overwritten")
    return status


# ---------------------------------------------------------------- library


def _library_cases() -> list[Case]:
    values = {
        "nan": np.full((2, 2, 3, 3), np.nan), "inf": np.full((2, 2, 3, 3), np.inf),
        "empty": np.ones((0, 2, 3, 3)), "1-D": np.ones(9), "5-D": np.ones((1, 2, 2, 3, 3)),
        "string": "kernel", "bytes": b"\x00" * 36, "None": None, "dict": {"a": 1},
        "ragged": [[[[1, 2], [3]]]], "complex": np.ones((2, 2, 3, 3), complex),
        "bool": np.ones((2, 2, 3, 3), bool), "object of str": np.full((2, 2, 3, 3), "x", object),
        "fractions": np.full((2, 2, 3, 3), Fraction(1, 3), object),
        "huge fraction": np.full((2, 2, 3, 3), Fraction(10**400, 3), object),
        "tiny fraction": np.full((2, 2, 3, 3), Fraction(1, 10**400), object),
        "float16 max": np.full((2, 2, 3, 3), np.finfo(np.float16).max, np.float16),
        "float64 max": np.full((2, 2, 3, 3), np.finfo(np.float64).max),
        "longdouble tiny": RANDOM.astype(np.longdouble) * np.longdouble("1e-4000"),
        "longdouble huge": RANDOM.astype(np.longdouble) * np.longdouble("1e4000"),
        "int64 extremes": np.full((2, 2, 3, 3), np.iinfo(np.int64).min),
        "uint64 max": np.full((2, 2, 3, 3), np.iinfo(np.uint64).max, np.uint64),
        "negative zero": np.full((2, 2, 3, 3), -0.0), "1x1x1x1": np.ones((1, 1, 1, 1)),
        "wide": np.ones((1, 1, 1, 50000)),
    }
    calls = {
        "analyze": lambda k: factorcheck.analyze(k),
        "decompose": lambda k: factorcheck.decompose(k, approximate=True),
        "nearest": lambda k: factorcheck.nearest_separable(k),
    }
    cases = []
    for label, value in values.items():
        for call_name, call in calls.items():
            cases.append(Case(f"library {call_name}({label})",
                              lambda c=call, v=value: (c(v), 0)[1]))
    options = {"multiplier 0": {"multiplier": 0}, "multiplier 10**12": {"multiplier": 10**12},
               "multiplier 2**60": {"multiplier": 2**60}, "multiplier 1.5": {"multiplier": 1.5},
               "multiplier True": {"multiplier": True}, "rtol nan": {"rtol": float("nan")},
               "rtol -1": {"rtol": -1}, "order bogus": {"order": "x"},
               "layout bogus": {"layout": "NCHW"}}
    for label, kwargs in options.items():
        for call_name in ("analyze", "decompose", "nearest_separable"):
            fn = getattr(factorcheck, call_name)
            extra = {"approximate": True} if call_name == "decompose" else {}
            cases.append(Case(f"library {call_name}(random, {label})",
                              lambda f=fn, k=kwargs, e=extra: (f(RANDOM, **k, **e), 0)[1]))
    judged = {"longdouble tiny": (values["longdouble tiny"], False, 8),
              "longdouble huge": (values["longdouble huge"], False, 8),
              "float16 max": (values["float16 max"], True, 1),
              "negative zero": (values["negative zero"], True, 0)}
    for label, (value, separable, terms) in judged.items():
        cases.append(Case(f"library analyze({label}) verdict",
                          lambda v=value, s=separable, t=terms: _verdict_is(v, s, t),
                          lambda status, out, err: status == 0))
    big = lambda: _expect_round_trip(10**12)  # noqa: E731
    cases.append(Case("library decompose multiplier 10**12 round-trips", big,
                      lambda status, out, err: status == 0))
    return cases


def _verdict_is(kernel: np.ndarray, separable: bool, terms: int) -> int:
    analysis = factorcheck.analyze(kernel)
    if (analysis.separable, analysis.min_multiplier) == (separable, terms):
        return 0
    print(f"got separable={analysis.separable}, T={analysis.min_multiplier}")
    return 3


def _expect_round_trip(multiplier: int) -> int:
    factors = factorcheck.decompose(RANDOM, multiplier=multiplier)
    return 0 if np.allclose(factors.to_kernel(), RANDOM) else 3


# ---------------------------------------------------------------- main


def main_sweep() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    build_parser()
    import onnx  # noqa: F401 - import before forking, once
    import torch

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="hostile-sweep-") as name:
        folder = Path(name)
        data, scratch = folder / "data", folder / "scratch"
        data.mkdir()
        scratch.mkdir()
        cases = _file_cases(data) + _argument_cases(data) + _library_cases()
        outcomes: Counter[str] = Counter()
        bad = []
        start = time.perf_counter()
        for case in cases:
            outcome, detail = run_case(case, args.timeout, str(scratch))
            outcomes[outcome] += 1
            if outcome in CRASHES:
                bad.append((case.name, outcome, detail))
            if args.verbose:
                print(f"{outcome:<14} {case.name!r:<60} {detail!r:.100}")
        elapsed = time.perf_counter() - start
    print(f"{len(cases)} cases in {elapsed:.0f} s")
    for outcome in (CLEAN, RIGHT, ANSWERED, *CRASHES):
        print(f"  {outcome:<14} {outcomes[outcome]}")
    for name, outcome, detail in bad:
        print(f"{outcome.upper()}: {name!r}: {detail}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main_sweep())
