"""Atomic file writes that honour the umask, for every file a run or the data layer leaves,
and the check whether a folder may be written at all."""
import contextlib
import errno
import os
import tempfile
from pathlib import Path
from typing import Callable


def _umask() -> int:
    # os.umask can only be read by setting it; restore at once (single-threaded at this point).
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def read_only_reason(directory: Path) -> str | None:
    """Why files cannot be created in the existing folder `directory`, or None.

    The mode bits are checked as well as access(): root bypasses permissions, and a folder
    marked read-only (chmod -w: a shared copy of MNIST, a sweep kept as it is) must not be
    written into anyway.
    """
    if not os.access(directory, os.W_OK | os.X_OK):
        return f"{directory} is not writable"
    if directory.stat().st_mode & 0o222 == 0:
        return f"{directory} is marked read-only"
    return None


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Have `write(tmp)` write the file at the path tmp, a temp file in the same folder, and
    rename it over `path`.

    A reader (or a resumed sweep) never sees half a file, even if the process is killed
    mid-write. mkstemp creates files 0600; they get the mode a plain open() would give
    (0666 minus the umask), so other users and tools can read results and data.

    `write` gets a path, not an open file, so that torch.save writes from C++ alone: given
    a Python file object, it calls back into Python for every chunk, and an exception a
    signal handler raises there (Ctrl-C's KeyboardInterrupt, submitit's time-limit error)
    comes out as a RuntimeError ('unexpected pos ...') that no longer says what happened.
    (torch writes from C++ only to an ASCII path; a folder named otherwise goes through Python.)
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        os.close(fd)
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException as err:
        full = isinstance(err, RuntimeError) and no_space_left(path.parent)
        # Emptied before it is removed: on a full disk the space comes back at once, although
        # the writer's open file lives on in the traceback (torch.save's) until it is collected.
        with contextlib.suppress(OSError):
            os.truncate(tmp, 0)
        Path(tmp).unlink(missing_ok=True)
        if full:  # torch.save reports a full disk as a RuntimeError (`basic_ios::clear: iostream error`)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from err
        raise


def no_space_left(directory: Path) -> bool:
    """Whether the file system holding `directory` has no block left to write."""
    try:
        return os.statvfs(directory).f_bavail == 0
    except OSError:
        return False
