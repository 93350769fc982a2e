"""Writing output files safely: the one helper every command that writes a file uses.

Policy (the README's "Errors, exit codes and safety" section states it for users):

* **Checked before any work.**  :func:`check_output` refuses, with a
  :class:`~factorcheck.errors.OutputError`, an output whose folder is missing
  or not a folder, an output that is a directory, a block device or a socket,
  and an output that *is* one of the run's input files, compared by
  ``(st_dev, st_ino)`` so a symbolic link, a hard link or another spelling of
  the same path is caught too.
* **Regular files are replaced atomically.**  The text goes to a new hidden
  ``.NAME.XXXXXXXX.part`` beside the target (created exclusively, so a planted
  file or link of that name is never written through), which is renamed over
  it only once fully written; on any failure the ``.part`` file is removed and
  the target is untouched.
* **FIFOs and character devices are written through, never replaced**
  (``-o /dev/stdout``, ``-o /dev/null``, a named pipe), and so are the
  descriptor links ``/dev/stdout``, ``/dev/fd/N`` and ``/proc/self/fd/N``
  whatever they point to (``-o /dev/stdout > out.tex``): the file is opened
  for appending and the text written to it; nothing is created or renamed
  beside it.  A FIFO with no reader is refused rather than waited on.
* A symbolic link to a regular file stays a link: the file it points to is
  replaced (atomically, as above).
* Every operating-system error (permission denied, disk full, read-only
  file system) becomes an :class:`~factorcheck.errors.OutputError` naming the
  path and the reason; the command line turns it into exit status 2.

Examples
--------
>>> import os, tempfile
>>> folder = tempfile.mkdtemp()
>>> target = os.path.join(folder, "report.md")
>>> write_text(target, "# hello\\n").name
'report.md'
>>> open(target).read(), sorted(os.listdir(folder))
('# hello\\n', ['report.md'])
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from factorcheck.errors import OutputError

__all__ = ["check_output", "check_suffix", "same_file", "write_bytes", "write_text"]


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name the same file (same ``st_dev`` and ``st_ino``, links followed).

    Paths that do not exist are never the same file.

    Examples
    --------
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> a = os.path.join(folder, "a"); open(a, "w").close()
    >>> os.link(a, os.path.join(folder, "b"))
    >>> same_file(a, os.path.join(folder, "b")), same_file(a, os.path.join(folder, "c"))
    (True, False)
    """
    try:
        sa, sb = os.stat(a), os.stat(b)
    except (OSError, ValueError):
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def _reason(err: OSError) -> str:
    return err.strerror or type(err).__name__


def _special(path: Path) -> str | None:
    """``"through"`` for a FIFO or character device, ``None`` for a regular or missing file.

    Raises for directories, block devices, sockets and unreadable metadata.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError as err:
        raise OutputError(f"output {str(path)!r}: cannot inspect it ({_reason(err)})") from None
    if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or _is_descriptor(path):
        return "through"
    if stat.S_ISREG(mode):
        return None
    kind = "a directory" if stat.S_ISDIR(mode) else "a block device or socket"
    raise OutputError(f"output {str(path)!r} is {kind}; expected a file name")


def _is_descriptor(path: Path) -> bool:
    """``/dev/stdout``, ``/dev/fd/N``, ``/proc/self/fd/N``: a file the shell opened for us."""
    absolute = os.path.abspath(path)
    return absolute.startswith(("/dev/", "/proc/")) and os.path.islink(absolute)


def check_output(path: str | os.PathLike, *, inputs: Iterable[str | os.PathLike] = ()
                 ) -> Path:
    """Check that ``path`` can be written without losing anything; return it as a Path.

    Parameters
    ----------
    path : path-like
        The output file.
    inputs : iterable of path-like
        The files the same run reads; the output may be none of them.

    Raises
    ------
    OutputError
        The folder is missing or not a folder; the output is a directory,
        block device or socket; or it is one of ``inputs`` (also through a
        symbolic or hard link).

    Examples
    --------
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> model = os.path.join(folder, "model.npy"); open(model, "w").close()
    >>> check_output(os.path.join(folder, "r.tex"), inputs=[model]).name
    'r.tex'
    >>> check_output(model, inputs=[model])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    factorcheck.errors.OutputError: output '...model.npy' is the input '...model.npy' ...
    """
    if not os.fspath(path):
        raise OutputError("output: expected a file name, got an empty string")
    target = Path(path)
    for source in inputs:
        if same_file(target, source):
            raise OutputError(
                f"output {str(target)!r} is the input {os.fspath(source)!r} (same file); "
                "refused so that the input is not overwritten: choose another output name")
    if _special(target) is None:
        folder = target.parent
        if not folder.is_dir():
            raise OutputError(f"output {str(target)!r}: folder {str(folder)!r} does not exist "
                              "or is not a folder")
    return target


def check_suffix(path: str | os.PathLike, suffixes: dict[str, str], what: str,
                 device_default: str | None = None) -> str:
    """The format named by the suffix of ``path``, or an error listing the known suffixes.

    A character device or FIFO (``/dev/stdout``, a named pipe) has no suffix
    to speak of: it gets ``device_default`` when given.  A directory is refused.

    Examples
    --------
    >>> check_suffix("r.md", {".tex": "tex", ".md": "md"}, "--format")
    'md'
    >>> check_suffix("model.npy", {".tex": "tex", ".md": "md"}, "--format")
    Traceback (most recent call last):
    ...
    factorcheck.errors.OutputError: output 'model.npy': unknown suffix '.npy'; expected one of .tex, .md, or give --format
    """  # noqa: E501
    suffix = Path(path).suffix.lower()
    if _special(Path(path)) == "through" and device_default is not None \
            and suffix not in suffixes:
        return device_default
    if suffix in suffixes:
        return suffixes[suffix]
    shown = repr(suffix) if suffix else "none"
    raise OutputError(f"output {os.fspath(path)!r}: unknown suffix {shown}; expected one of "
                      f"{', '.join(suffixes)}, or give {what}")


def write_text(path: str | os.PathLike, text: str, *,
               inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """Write ``text`` (UTF-8) to ``path`` under the module's policy; return the path.

    Examples
    --------
    >>> import os, tempfile
    >>> write_text(os.path.join(tempfile.mkdtemp(), "missing", "r.tex"), "x")
    Traceback (most recent call last):
    ...
    factorcheck.errors.OutputError: output '...r.tex': folder '...missing' does not exist or is not a folder
    """  # noqa: E501
    return write_bytes(path, text.encode("utf-8"), inputs=inputs)


def write_bytes(path: str | os.PathLike, data: bytes, *,
                inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """Write ``data`` to ``path`` under the module's policy; return the path.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "r.bin")
    >>> write_bytes(path, b"abc").stat().st_size
    3
    """
    target = check_output(path, inputs=inputs)
    if _special(target) == "through":
        _write_through(target, data)
    else:  # a symbolic link to a regular file keeps being one: its target is replaced
        _replace(Path(os.path.realpath(target)) if target.is_symlink() else target, data)
    return target


def _replace(target: Path, data: bytes) -> None:
    """Write to a new ``.NAME.XXXX.part`` beside ``target``, then rename it over ``target``.

    The staging file is created exclusively (``O_EXCL``, a fresh name), so a
    ``.part`` name planted in the folder, such as a symbolic link to another
    file, is never written through.
    """
    staged = None
    try:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part",
                                    dir=target.parent)
        staged = Path(name)
        with os.fdopen(fd, "wb") as fp:
            os.fchmod(fp.fileno(), 0o666 & ~_umask())
            fp.write(data)
        os.replace(staged, target)
    except OSError as err:
        if staged is not None:
            try:
                staged.unlink()
            except OSError:
                pass
        raise OutputError(f"output {str(target)!r}: cannot write it ({_reason(err)})") from None


def _umask() -> int:
    """The process's umask, read without changing it where Linux allows (threads are safe)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_through(target: Path, data: bytes) -> None:
    """Write to a FIFO or character device in place (a FIFO without reader is refused)."""
    try:
        fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK)
    except OSError as err:
        why = "no process is reading it" if err.errno == errno.ENXIO else _reason(err)
        raise OutputError(f"output {str(target)!r}: cannot write to it ({why})") from None
    try:
        os.set_blocking(fd, True)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except OSError as err:
        raise OutputError(f"output {str(target)!r}: cannot write to it ({_reason(err)})") from None
    finally:
        os.close(fd)
