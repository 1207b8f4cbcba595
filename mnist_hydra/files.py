"""Atomic file writes that honour the umask, for every file a run or the data layer leaves,
and the check whether a folder may be written at all."""
import os
import signal
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Callable, Iterator


def _umask() -> int:
    # os.umask can only be read by setting it; restore at once (single-threaded at this point).
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def ctrl_c_deferred() -> Iterator[None]:
    """Hold a Ctrl-C (SIGINT) that arrives inside the block and raise it when the block ends.

    torch.save writes through C++, which turns a KeyboardInterrupt raised in its write call
    into a RuntimeError ('unexpected pos ...'): a Ctrl-C during a checkpoint write would be
    recorded as a failed run and the sweep would go on. A write takes milliseconds, so the
    user loses nothing by waiting for it. Only the main thread can set signal handlers; a
    SIGINT that is ignored (a background job) stays ignored.
    """
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or not callable(previous):
        yield
        return
    held: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if held:
            previous(signal.SIGINT, None)  # the default handler raises KeyboardInterrupt here


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


def atomic_write(path: Path, write: Callable[[IO], None], binary: bool = False) -> None:
    """Write via a temp file in the same folder and rename it over `path`, with Ctrl-C
    held until the file is complete (see ctrl_c_deferred).

    A reader (or a resumed sweep) never sees half a file, even if the process is killed
    mid-write. mkstemp creates files 0600; they get the mode a plain open() would give
    (0666 minus the umask), so other users and tools can read results and data.
    """
    with ctrl_c_deferred():
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            os.fchmod(fd, 0o666 & ~_umask())
            with os.fdopen(fd, "wb" if binary else "w") as f:
                write(f)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
