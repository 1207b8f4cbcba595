"""Atomic file writes that honour the umask, for every file a run or the data layer leaves."""
import os
import tempfile
from pathlib import Path
from typing import IO, Callable


def _umask() -> int:
    # os.umask can only be read by setting it; restore at once (single-threaded at this point).
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: Path, write: Callable[[IO], None], binary: bool = False) -> None:
    """Write via a temp file in the same folder and rename it over `path`.

    A reader (or a resumed sweep) never sees half a file, even if the process is killed
    mid-write. mkstemp creates files 0600; they get the mode a plain open() would give
    (0666 minus the umask), so other users and tools can read results and data.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb" if binary else "w") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
