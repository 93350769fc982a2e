"""Issue 10, class 2: output safety -- nothing a user gave is lost."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest
from hostile_helpers import assert_clean_error, char_device, cli, part_files

from factorcheck.errors import OutputError
from factorcheck.io.output import check_output, check_suffix, same_file, write_text
from factorcheck.report import write


@pytest.fixture()
def model(tmp_path):
    path = tmp_path / "victim.npy"
    np.save(path, np.ones((4, 2, 3, 3)))
    return path


def _unchanged(path, before: bytes) -> bool:
    return path.is_file() and not path.is_symlink() and path.read_bytes() == before


def test_unknown_suffix_without_format_is_refused(model, tmp_path):
    """Today `-o victim.npy` wrote LaTeX over the model."""
    other = tmp_path / "other.npy"
    np.save(other, np.zeros((2, 2, 3, 3)))
    before = model.read_bytes()
    status, _, err = cli("report", other, "-o", model)
    assert_clean_error(status, err, "unknown suffix '.npy'", "--format")
    assert _unchanged(model, before)


@pytest.mark.parametrize("name", ["report", "report.pdf", "r.TEX.bak"])
def test_other_unknown_suffixes(model, tmp_path, name):
    status, _, err = cli("report", model, "-o", tmp_path / name)
    assert_clean_error(status, err, "suffix")
    assert not (tmp_path / name).exists()


def test_output_is_the_input(model):
    before = model.read_bytes()
    status, _, err = cli("report", model, "-o", model, "--format", "tex")
    assert_clean_error(status, err, "is the input")
    assert _unchanged(model, before)


def test_output_is_a_symlink_to_the_input(model, tmp_path):
    link = tmp_path / "report.tex"
    link.symlink_to(model)
    before = model.read_bytes()
    status, _, err = cli("report", model, "-o", link)
    assert_clean_error(status, err, "is the input")
    assert _unchanged(model, before) and link.is_symlink()


def test_output_is_a_hardlink_to_the_input(model, tmp_path):
    link = tmp_path / "report.md"
    os.link(model, link)
    before = model.read_bytes()
    status, _, err = cli("report", model, "-o", link)
    assert_clean_error(status, err, "is the input")
    assert _unchanged(model, before) and same_file(model, link)


def test_output_is_the_input_spelled_differently(model, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = model.read_bytes()
    status, _, err = cli("report", "./victim.npy", "-o", f"../{tmp_path.name}/victim.npy",
                         "--format", "md")
    assert_clean_error(status, err, "is the input")
    assert _unchanged(model, before)


def test_the_pdf_beside_the_tex_may_not_be_an_input(tmp_path):
    """``-o r.tex --pdf`` writes r.pdf too: an input named r.pdf is protected."""
    victim = tmp_path / "r.pdf"
    victim.write_bytes(b"%PDF-1.4 precious")
    with pytest.raises(OutputError, match="is the input"):
        write([victim], output=tmp_path / "r.tex", pdf=True)
    assert victim.read_bytes() == b"%PDF-1.4 precious" and not (tmp_path / "r.tex").exists()


def test_a_symlink_to_another_file_stays_a_link(model, tmp_path):
    real = tmp_path / "real.md"
    real.write_text("old")
    link = tmp_path / "link.md"
    link.symlink_to(real)
    status, _, err = cli("report", model, "-o", link)
    assert status == 0, err
    assert link.is_symlink() and real.read_text().startswith("# Depthwise")
    assert part_files(tmp_path) == []


def test_fifo_with_a_reader_is_written_through(model, tmp_path):
    fifo = tmp_path / "pipe.md"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(open(fifo, "rb").read()))
    reader.start()
    try:
        status, _, err = cli("report", model, "-o", fifo)
    finally:
        if reader.is_alive():  # unblock the reader if nothing was written
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(10)
    assert status == 0, err
    assert received and received[0].startswith(b"# Depthwise")
    assert fifo.is_fifo() and part_files(tmp_path) == []


def test_fifo_without_a_reader_is_refused_not_replaced(model, tmp_path):
    fifo = tmp_path / "pipe.tex"
    os.mkfifo(fifo)
    status, _, err = cli("report", model, "-o", fifo)
    assert_clean_error(status, err, "no process is reading it")
    assert fifo.is_fifo() and part_files(tmp_path) == []


def test_character_device_is_written_through(model, tmp_path):
    null = char_device(tmp_path)  # a private /dev/null: a regression must not replace the real one
    status, _, err = cli("report", model, "-o", null)
    assert status == 0, err
    assert null.is_char_device() and part_files(null.parent) == []


def test_a_full_device_is_a_clean_error(model, tmp_path):
    full = char_device(tmp_path, "full", 7)
    status, _, err = cli("report", model, "-o", full, "--format", "md")
    assert_clean_error(status, err, "cannot write")
    assert full.is_char_device()


def test_check_output_library_api(model, tmp_path):
    assert check_output(tmp_path / "new.tex", inputs=[model]).name == "new.tex"
    with pytest.raises(OutputError, match="is a directory"):
        check_output(tmp_path)
    with pytest.raises(OutputError, match="empty string"):
        check_output("")
    with pytest.raises(OutputError, match="is the input"):
        write_text(model, "x", inputs=[model])
    assert check_suffix("/dev/null", {".tex": "tex"}, "--format", "tex") == "tex"
    with pytest.raises(OutputError, match="unknown suffix none"):
        check_suffix(tmp_path / "noext", {".tex": "tex"}, "--format", "tex")


def test_replacing_a_regular_file_is_atomic(tmp_path):
    target = tmp_path / "r.tex"
    target.write_text("old")
    inode = target.stat().st_ino
    write_text(target, "new")
    assert target.read_text() == "new" and part_files(tmp_path) == []
    assert target.stat().st_ino != inode  # a new file renamed over the old one


def test_a_planted_part_symlink_is_never_written_through(model, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / ".r.md.part").symlink_to(victim)
    status, _, err = cli("report", model, "-o", tmp_path / "r.md")
    assert status == 0, err
    assert victim.read_text() == "precious"
    assert (tmp_path / "r.md").read_text().startswith("# Depthwise")


def test_written_files_get_the_usual_permissions(model, tmp_path):
    old = os.umask(0o022)
    try:
        write_text(tmp_path / "r.tex", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "r.tex").stat().st_mode & 0o777 == 0o644
