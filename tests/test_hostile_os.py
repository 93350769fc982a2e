"""Issue 10, class 1: operating-system errors give a clean error, exit 2, and no ``.part`` file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from hostile_helpers import (
    assert_clean_error,
    cli,
    part_files,
    run_unprivileged,
    shared_folder,
)

from factorcheck.errors import FileFormatError, OutputError
from factorcheck.io import read_model
from factorcheck.io.output import write_text

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX only (fork, setuid)")


@pytest.fixture()
def folder():
    path = shared_folder()
    np.save(path / "model.npy", np.ones((4, 2, 3, 3)))
    (path / "model.npy").chmod(0o644)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_unreadable_input_is_a_clean_error(folder):
    (folder / "model.npy").chmod(0o000)
    status, _, err = run_unprivileged(["check", "model.npy"], folder)
    assert_clean_error(status, err, "model.npy", "cannot read")


def test_unreadable_input_in_the_library(folder):
    (folder / "model.npy").chmod(0o000)
    status, _, err = run_unprivileged(["report", "model.npy", "-o", "/dev/null"], folder)
    assert_clean_error(status, err, "cannot read")


def test_output_into_a_missing_folder(folder):
    status, _, err = cli("report", folder / "model.npy", "-o", folder / "missing" / "r.tex")
    assert_clean_error(status, err, "does not exist")
    assert not (folder / "missing").exists()
    assert part_files(folder) == []


def test_output_onto_an_existing_directory(folder):
    (folder / "out.tex").mkdir()
    status, _, err = cli("report", folder / "model.npy", "-o", folder / "out.tex")
    assert_clean_error(status, err, "is a directory")
    assert (folder / "out.tex").is_dir() and part_files(folder) == []


def test_output_in_a_folder_without_write_permission(folder):
    locked = folder / "locked"
    locked.mkdir(mode=0o555)
    locked.chmod(0o555)
    status, _, err = run_unprivileged(["report", "model.npy", "-o", "locked/r.md"], folder)
    assert_clean_error(status, err, "cannot write", "locked/r.md")
    assert os.listdir(locked) == []


def test_output_to_dev_stdout_as_a_user(folder):
    """Written through (or refused cleanly), never staged as /dev/.stdout.part."""
    status, out, err = run_unprivileged(["report", "model.npy", "-o", "/dev/stdout",
                                         "--format", "md"], folder)
    assert "Traceback" not in err
    assert status in (0, 2), err
    if status == 0:
        assert out.startswith("# Depthwise separable convolution")
    else:
        assert "cannot write" in err
    assert not os.path.exists("/dev/.stdout.part")


def test_output_to_a_descriptor_link_redirected_to_a_file_writes_through(folder):
    """``-o /dev/fd/1 > out.json`` (as ``/dev/stdout``): the shell's file gets the text.

    ``/dev/fd/1`` rather than ``/dev/stdout``: run as root, a regression that
    staged and renamed would replace the system's ``/dev/stdout`` link, while
    ``/dev/fd`` lies in ``/proc``, where nothing can be created.
    """
    with open(folder / "out.json", "w") as out:
        done = subprocess.run([sys.executable, "-m", "factorcheck", "report", "model.npy", "-o",
                               "/dev/fd/1", "--format", "json"], cwd=folder, stdout=out,
                              stderr=subprocess.PIPE, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads((folder / "out.json").read_text())["schema_version"] == 1
    assert os.path.islink("/dev/stdout") and part_files("/dev") == []


def test_write_text_failure_leaves_no_part_file(folder, monkeypatch):
    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OutputError, match="No space left"):
        write_text(folder / "r.tex", "x" * 1000)
    assert part_files(folder) == [] and not (folder / "r.tex").exists()


def test_read_model_turns_os_errors_into_file_format_errors(folder, monkeypatch):
    import factorcheck.io.npy as npy

    def fail(*args, **kwargs):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(npy, "load_npy", fail)
    with pytest.raises(FileFormatError, match="Input/output error"):
        read_model(folder / "model.npy")


def test_a_directory_as_input(folder):
    status, _, err = cli("check", folder)
    assert_clean_error(status, err, "regular file")


def test_out_of_memory_is_a_clean_error(folder, monkeypatch):
    import importlib

    scan_module = importlib.import_module("factorcheck.scan")  # the module, not the function

    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(scan_module, "analyze", exhausted)
    status, _, err = cli("check", folder / "model.npy")
    assert_clean_error(status, err, "out of memory")
