"""Output folders that never lose a user's files and survive a crash at any moment.

Every command that writes a folder (``run``, ``demo``, ``scenario``, ``sites``, ``workshop``,
``report --by subarea``, ``batch``) goes through :func:`claim_output`:

1. **Before any computing**, the target is checked: it may be absent, an empty folder, or an
   earlier gapmap output (marked by a :data:`MARKER` file, or a ``run.json`` written by gapmap).
   A file, or a folder holding anything else, is refused (exit status 2) unless ``--force``;
   a folder that holds (or is) one of the run's inputs is refused even with ``--force``. The
   nearest existing parent must be writable.
2. A **lock** per output folder (``flock`` on ``.NAME.lock`` beside it): a second run into the
   same folder stops at once (exit status 2, "another run is writing").
3. Leftovers of a crashed run are repaired: a folder swapped out but not yet deleted
   (``.NAME.old-*``) is put back when the real name is missing, and stale ``.NAME.tmp-*``
   staging folders are removed.
4. Outputs are written into a staging folder beside the target and **swapped in atomically**
   (Linux ``renameat2(RENAME_EXCHANGE)``: at every instant the real name holds either the old or
   the new folder); where the system lacks it, two renames with the recovery of step 3.
   Outputs of other commands written inside the old folder (a scenario, sites or workshop
   page in a region's folder, each with its own marker) move into the new one, also when
   step 3 finishes a crashed swap.

:func:`geo.progress.pause_point` lets the crash tests stop a run at a named point.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from geo import __version__
from geo.errors import InputError
from geo.progress import pause_point

log = logging.getLogger(__name__)

MARKER = ".gapmap-output"
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def is_gapmap_output(folder: Path) -> bool:
    """Whether ``folder`` was written by gapmap (its marker, or a gapmap ``run.json``)."""
    if (folder / MARKER).is_file():
        return True
    try:
        return json.loads((folder / "run.json").read_text(encoding="utf-8")).get("tool") == "gapmap"
    except (OSError, ValueError, AttributeError):
        return False


def _holds(folder: Path, path: Path) -> bool:
    folder, path = folder.resolve(), path.resolve()
    return path == folder or folder in path.parents


def check_output_target(final: Path, *, inputs: Iterable[Path] = (), force: bool = False) -> None:
    """Refuse an output folder that would lose a user's files (see the module docstring).

    Raises
    ------
    InputError
        The target is a file, holds an input, holds other files (without ``force``), or its
        parent is not writable.
    """
    final = Path(final)
    held = [p for p in inputs if p is not None and _holds(final, Path(p))]
    if held:
        raise InputError(
            f"the output folder holds an input of this run ({held[0]}); writing there would "
            "replace it. Choose another --out (--force does not override this)",
            path=final,
        )
    if final.is_file() or (final.exists() and not final.is_dir()):
        raise InputError(
            "the output path is an existing file, not a folder; choose another --out", path=final
        )
    if final.is_dir() and any(final.iterdir()) and not is_gapmap_output(final):
        if not force:
            raise InputError(
                "the output folder already holds files that gapmap did not write; choose an "
                "empty or new folder, or add --force to replace it",
                path=final,
            )
        log.warning("--force: replacing %s, which gapmap did not write", final)
    parent = final.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"cannot write here: {parent} is not writable", path=final)


class _Lock:
    """An exclusive, non-blocking ``flock`` on ``.NAME.lock`` beside the output folder."""

    def __init__(self, final: Path) -> None:
        self.path = final.with_name(f".{final.name}.lock")
        self.fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise InputError(
                    "another gapmap run is writing this output folder; wait for it to finish "
                    "or choose another --out",
                    path=self.path.with_name(self.path.name[1:].removesuffix(".lock")),
                ) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:  # not a lock file another run just released and removed
                self.fd = fd
                os.write(fd, str(os.getpid()).encode())
                return
            os.close(fd)

    def release(self) -> None:
        if self.fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        os.close(self.fd)
        self.fd = None


def _siblings(final: Path, kind: str) -> list[Path]:
    return sorted(final.parent.glob(f".{final.name}.{kind}-*")) if final.parent.is_dir() else []


def recover(final: Path) -> None:
    """Repair a crashed run's leftovers beside ``final`` (call with the lock held)."""
    olds = _siblings(final, "old")
    if olds and not final.exists():
        newest = max(olds, key=lambda p: p.stat().st_mtime)
        newest.rename(final)
        log.warning("restored %s from an interrupted run's swap", final)
        olds.remove(newest)
    for leftover in [*olds, *_siblings(final, "tmp")]:
        if final.is_dir():
            carry_nested(leftover, final)
        shutil.rmtree(leftover, ignore_errors=True)
        log.info("removed %s, left by an interrupted run", leftover)


def carry_nested(old: Path, new: Path) -> None:
    """Move the outputs of other commands nested in ``old`` (its sub-folders with their own
    marker: a scenario, sites, workshop page or packs written inside a region's folder) into
    ``new`` where it has nothing of that name, so replacing a folder never deletes them."""
    for child in sorted(old.iterdir()):
        if child.is_dir() and (child / MARKER).is_file() and not (new / child.name).exists():
            child.rename(new / child.name)
            log.info("kept %s from the folder it replaced", new / child.name)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2``); False where the system cannot (or
    ``GAPMAP_NO_EXCHANGE`` is set, to test the two-rename fallback)."""
    if os.environ.get("GAPMAP_NO_EXCHANGE"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    renameat2.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    if renameat2(_AT_FDCWD, bytes(a), _AT_FDCWD, bytes(b), _RENAME_EXCHANGE) == 0:
        return True
    errno = ctypes.get_errno()
    if errno in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: this file system cannot exchange
        return False
    raise OSError(errno, os.strerror(errno), str(b))


def swap_in(staging: Path, final: Path) -> None:
    """Put ``staging`` under the name ``final``, replacing what was there (outputs of other
    commands nested in the old folder are kept: :func:`carry_nested`)."""
    if not final.exists():
        staging.rename(final)
        return
    if _exchange(staging, final):  # staging now holds the old folder
        pause_point("swap")
        carry_nested(staging, final)
        shutil.rmtree(staging, ignore_errors=True)
        return
    old = final.with_name(f".{final.name}.old-{os.getpid()}")
    final.rename(old)
    pause_point("between_renames")
    staging.rename(final)
    carry_nested(old, final)
    shutil.rmtree(old, ignore_errors=True)


def mark(folder: Path, kind: str) -> None:
    """Mark ``folder`` as a gapmap output (a folder written in place, such as a batch's)."""
    folder.mkdir(parents=True, exist_ok=True)
    marker = {"tool": "gapmap", "kind": kind, "version": __version__}
    (folder / MARKER).write_text(json.dumps(marker), encoding="utf-8")


class OutputFolder:
    """A claimed output folder: checked and locked; write into :meth:`staging`."""

    def __init__(self, final: Path, *, kind: str) -> None:
        self.final = Path(final)
        self.kind = kind

    @contextlib.contextmanager
    def staging(self) -> Iterator[Path]:
        """An empty folder beside the target that replaces it when the block succeeds."""
        self.final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{self.final.name}.tmp-", dir=self.final.parent))
        tmp.chmod(0o755)  # mkdtemp makes it private; outputs are meant to be shared
        try:
            yield tmp
            mark(tmp, self.kind)
            pause_point("writing")
            swap_in(tmp, self.final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


@contextlib.contextmanager
def claim_output(
    final: Path, *, inputs: Iterable[Path] = (), force: bool = False, kind: str = "run"
) -> Iterator[OutputFolder]:
    """Check and lock an output folder for the whole run (see the module docstring).

    Parameters
    ----------
    final
        The output folder.
    inputs
        The run's input files (a folder holding any of them is never replaced).
    force
        Replace a folder that holds files gapmap did not write.
    kind
        What the folder holds (``run``, ``scenario``, ``sites``, ``packs``, ``batch``).
    """
    final = Path(final).absolute()
    check_output_target(final, inputs=inputs, force=force)
    lock = _Lock(final)
    lock.acquire()
    try:
        recover(final)
        yield OutputFolder(final, kind=kind)
    finally:
        lock.release()


@contextlib.contextmanager
def atomic_directory(final: Path, *, kind: str = "run") -> Iterator[Path]:
    """A staging folder that replaces ``final`` when the block succeeds (claim, lock, swap).

    For writers that check their target themselves; commands use :func:`claim_output` before
    computing and :meth:`OutputFolder.staging` to write.
    """
    with claim_output(final, force=True, kind=kind) as out, out.staging() as tmp:
        yield tmp


def write_atomic_text(path: Path, text: str) -> Path:
    """Write a text file via a temporary file and :func:`os.replace`."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
