"""Helpers shared by the tests/test_hostile_*.py modules (one module per class of issue 10)."""

from __future__ import annotations

import importlib
import io
import os
import stat
import subprocess
import sys
import tempfile
import traceback
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from types import ModuleType

import pytest

from conftest import IN_CI
from factorcheck.cli import build_parser, main

NOBODY = 65534


def cli(*argv: str) -> tuple[int, str, str]:
    """Run the command line in this process; return ``(status, stdout, stderr)``.

    An argument refused by argparse (``SystemExit``) gives its exit status too.
    """
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            status = main([str(a) for a in argv])
        except SystemExit as exit_info:
            status = exit_info.code if isinstance(exit_info.code, int) else 2
    return status, out.getvalue(), err.getvalue()


def cli_subprocess(*argv: str, cwd: str | os.PathLike | None = None,
                   timeout: float = 120) -> tuple[int, str, str]:
    """Run ``python -m factorcheck`` in a child process (tracebacks would show on stderr)."""
    done = subprocess.run([sys.executable, "-m", "factorcheck", *map(str, argv)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, check=False)
    return done.returncode, done.stdout, done.stderr


def assert_clean_error(status: int, err: str, *words: str) -> None:
    """Exit 2 with a one-line ``factorcheck ...: error:`` message containing ``words``."""
    assert status == 2, err
    assert "Traceback" not in err, err
    assert "error:" in err, err
    for word in words:
        assert word in err, err


def optional(module: str) -> ModuleType:
    """Import an optional dependency at module level; skip without it, but fail in CI."""
    try:
        return importlib.import_module(module)
    except ImportError:
        if IN_CI:
            raise
        pytest.skip(f"optional dependency {module!r} is not installed", allow_module_level=True)


def char_device(folder: str | os.PathLike, name: str = "null", minor: int = 3) -> Path:
    """A private character device in ``folder``: ``/dev/null``'s (minor 3) or ``/dev/full``'s (7).

    Tests that write to a device use this node, never the system's: run as
    root, a regression that replaced the output would otherwise replace
    ``/dev/null`` itself.  Without root (no ``mknod``), or on a ``nodev``
    file system, the system device is returned: an unprivileged process
    cannot replace it.
    """
    system = Path("/dev") / name
    if os.getuid() != 0:
        return system
    path = Path(folder) / name
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, minor))
        os.close(os.open(path, os.O_WRONLY))
    except OSError:  # mounted nodev: the node cannot be opened
        return system
    return path


def shared_folder() -> Path:
    """A fresh folder everyone may enter (for the tests that drop root privileges)."""
    folder = Path(tempfile.mkdtemp(prefix="factorcheck-hostile-"))
    folder.chmod(0o755)
    return folder


def run_unprivileged(argv: list[str], cwd: str | os.PathLike) -> tuple[int, str, str]:
    """Run the command line in a forked child as user ``nobody`` (when root; else as is).

    The tests run as root in CI, where permission errors never happen; this
    makes them happen.  The child is forked rather than exec'ed so that it
    needs no access to the interpreter's files: every command module is
    imported before the fork.
    """
    build_parser()  # import every command module while still privileged
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child process
        status = 99
        try:
            sys.stdout = os.fdopen(out_w, "w")
            sys.stderr = os.fdopen(err_w, "w")
            os.dup2(out_w, 1)
            if os.getuid() == 0:
                os.setgroups([])
                os.setgid(NOBODY)
                os.setuid(NOBODY)
            os.chdir(cwd)
            status = main(argv)
        except BaseException:
            traceback.print_exc()
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(status)
    os.close(out_w)
    os.close(err_w)
    with os.fdopen(out_r) as out, os.fdopen(err_r) as err:
        stdout, stderr = out.read(), err.read()
    _, wait = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(wait), stdout, stderr


def part_files(folder: str | os.PathLike) -> list[str]:
    """Leftover ``.part`` files in ``folder``."""
    return [name for name in os.listdir(folder) if name.endswith(".part")]
