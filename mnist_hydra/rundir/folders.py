"""Run and sweep folders: one per invocation, never shared, removed again when nothing ran.

Hydra names folders by the second (`outputs/<date>/<time>`), so two invocations started in
the same second write into one folder and mix their results (Hydra issues #1607, #2925).
conf/config.yaml names them through the `mnist_hydra.unique_dir` resolver instead: the
time-stamped name, or `<name>-1`, `<name>-2`, ... when another process already created it.
The folder is created atomically (mkdir), so the claim itself cannot race. The resolver is
cached: the sweep's jobs get the value the main process resolved (Hydra copies the cache).
"""
import atexit
import itertools
import shutil
from pathlib import Path

from mnist_hydra.config import ensure_resolver
from mnist_hydra.guards import refuse
from mnist_hydra.rundir.files import read_only_reason

RESOLVER = "mnist_hydra.unique_dir"
_claimed: list[Path] = []
_discarded: set[Path] = set()
_created_parents: list[Path] = []  # deepest first: multirun/<date>, multirun


def unique_dir(base: str) -> str:
    """Create and return `base`, or the first free `base-N`; this process owns it."""
    path = Path(base)
    _created_parents.extend(p for p in path.parents if p != Path(".") and not p.exists())
    for n in itertools.count():
        candidate = path if n == 0 else path.with_name(f"{path.name}-{n}")
        try:
            # parents again on every try: another process may just have removed an empty one
            candidate.parent.mkdir(parents=True, exist_ok=True)
            candidate.mkdir()
        except FileNotFoundError:
            continue
        except (FileExistsError, NotADirectoryError):
            if candidate.parent.is_dir():  # the name is taken: try the next one
                continue
            # a file where a parent folder must be: no name under it can ever be created
            blocking = next(p for p in reversed(candidate.parents) if p.exists() and not p.is_dir())
            refuse(f"{blocking} is a file, not a folder, so {path} cannot be created; "
                   "move the file away or choose another hydra.run.dir / hydra.sweep.dir")
        except OSError as err:  # a read-only current folder (or file system), a full disk: no name can be made
            refuse(f"{cannot_create(candidate.parent, err)}, so {path} cannot be created; "
                   "run from a writable folder or choose another hydra.run.dir / hydra.sweep.dir")
        _claimed.append(candidate)
        return str(candidate)
    raise AssertionError("unreachable")


def cannot_create(folder: Path, err: OSError) -> str:
    """Why nothing can be created in `folder`: its nearest existing folder's read-only
    reason (named absolutely: `.` says little), else the error's own words."""
    existing = next((p for p in (folder, *folder.parents) if p.is_dir()), Path("."))
    return read_only_reason(existing.absolute()) or f"{existing.absolute()}: {err.strerror or err}"


@atexit.register
def _remove_unused() -> None:
    """A folder whose invocation never started a job (a config error, a refused sweep)
    holds at most Hydra's multirun.yaml: remove it rather than leave a result-less folder."""
    for path in _claimed:
        if path.is_dir() and (path.resolve() in _discarded or {p.name for p in path.iterdir()} <= {"multirun.yaml"}):
            shutil.rmtree(path, ignore_errors=True)
            for parent in _created_parents:  # and the folders created for it, if left empty
                try:
                    parent.rmdir()
                except OSError:  # not empty (another run is there) or already gone
                    break


def discard(path: Path) -> None:
    """Remove at exit a folder this process claimed, whatever Hydra wrote into it (.hydra/,
    the log): an invocation refused inside its job has no result to keep."""
    if path.resolve() in {p.resolve() for p in _claimed}:
        _discarded.add(path.resolve())


def register_resolver() -> None:
    """`${mnist_hydra.unique_dir:...}`, which conf/config.yaml names its run and sweep folders with."""
    ensure_resolver(RESOLVER, unique_dir, use_cache=True)
