"""The run folder: a fresh one by default, never another run's unless asked, held by one run at a
time (RunLock), free of links minigan did not make, and checked for writing before the first
training step."""
import errno
import fcntl
import fnmatch
import os
import tempfile
import time
from pathlib import Path


class OutputError(ValueError):
    """The run folder cannot be used: it is a file, not writable, or holds another run."""


# What a run writes into its folder, each through a temporary `<name>.tmp*` renamed over the
# name (checkpoint.save_atomic); --overwrite deletes these and their orphans (nothing else).
OUTPUTS = ("samples_epoch*.png", "final_grid.png", "progress.gif", "losses.png", "history.csv",
           "checkpoint.npz", "generator.npz", "recipe.json", "generator_best.npz", "best.json",
           "report.md", "best_grid.png", "generator_raw.npz")
ORPHANS = tuple(pattern + ".tmp*" for pattern in OUTPUTS)
RUN_FILES = OUTPUTS + ORPHANS
LOCK = "minigan.lock"   # held by the running run (RunLock); gone when it ends


def fresh_run_folder(parent="runs"):
    """runs/<date-time>, with -2, -3, ... added when that folder exists: a new run never lands
    in an old one's folder."""
    stem = os.path.join(parent, time.strftime("%Y%m%d-%H%M%S"))
    folder, k = stem, 1
    while os.path.exists(folder):
        k += 1
        folder = f"{stem}-{k}"
    return folder


def check_out(out):
    """`out` as a Path; an empty one is refused (Path('') would silently be the current
    folder)."""
    if not str(out):
        raise OutputError("the output folder is empty text (--out ''): give a folder path, "
                          "such as --out runs/mine (--out . for the current folder), or leave "
                          "--out out for a new runs/<date-time>")
    return Path(out)


def make_folder(out):
    """Create the folder `out` (and its parents); one line naming the part of the path that
    stands in the way: a file, or a symbolic link to nothing."""
    out = check_out(out)
    try:
        for part in reversed((out, *out.parents)):
            if part.is_symlink() and not part.exists():
                raise OutputError(f"cannot create the output folder {out}: {part} is a symbolic "
                                  f"link to {os.readlink(part)}, which does not exist; create "
                                  "that folder, remove the link, or choose another --out")
            if part.exists() and not part.is_dir():
                if part == out:
                    raise OutputError(f"the output folder {out} is a file: choose a folder path "
                                      "(--out)")
                raise OutputError(f"cannot create the output folder {out}: part of that path is "
                                  f"a file ({part}); choose another --out")
        out.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):   # something appeared on the way
        raise OutputError(f"cannot create the output folder {out}: part of that path is a file; "
                          "choose another --out") from None
    except OSError as exc:
        raise OutputError(f"cannot use the output folder {out} ({exc.strerror}): choose "
                          "another --out") from None
    return out


def prepare_output(out, *, overwrite=False, own_run=False, resumed_from=None):
    """Make the run folder `out` ready before any training: create it (make_folder); refuse one
    holding a symbolic link (minigan makes none, and a link could point a write elsewhere), or
    one that already holds files, unless `overwrite` (then delete the files a run writes,
    RUN_FILES, and nothing else) or `own_run` (a resumed run's own folder); and prove it
    writable. `resumed_from` (a checkpoint resumed into another folder) words the refusal."""
    out = make_folder(out)
    try:
        existing = sorted(p.name for p in out.iterdir() if p.name != LOCK)
    except OSError as exc:
        raise OutputError(f"cannot use the output folder {out} ({exc.strerror}): choose "
                          "another --out") from None
    if existing and not own_run and not overwrite:
        raise OutputError(not_empty(out, existing, resumed_from))
    for name in existing:
        if (out / name).is_symlink():
            raise OutputError(f"the run folder {out} holds a symbolic link minigan did not make, "
                              f"{name} -> {os.readlink(out / name)}: remove it (or put a copy "
                              "of the file it points to in its place) and run again")
    if existing and overwrite:
        for pattern in RUN_FILES:
            for path in out.glob(pattern):
                path.unlink()
    try:
        fd, probe = tempfile.mkstemp(dir=out, prefix=".minigan-write-check")
        os.close(fd)
        os.remove(probe)
    except OSError as exc:
        raise OutputError(f"cannot write to the output folder {out} ({exc.strerror}): choose a "
                          "writable --out") from None


def not_empty(out, existing, resumed_from=None):
    """Why a run may not write into `out`, which holds `existing`, and what works instead."""
    shown = ", ".join(existing[:3]) + (", ..." if len(existing) > 3 else "")
    if resumed_from is not None:
        return (f"the output folder {out} is not empty ({shown}): a resumed run continues in "
                f"the folder of {resumed_from} (leave --out out) or in an empty --out; choose "
                "another --out")
    if "checkpoint.npz" in existing:
        return (f"the output folder {out} is not empty ({shown}): choose another --out, "
                f"continue that run with --resume {out / 'checkpoint.npz'}, or pass "
                "--overwrite to replace its outputs")
    if any(fnmatch.fnmatch(name, pattern) for name in existing for pattern in RUN_FILES):
        return (f"the output folder {out} is not empty ({shown}) and holds no checkpoint.npz to "
                "resume (a run there stopped before its first epoch was saved?): choose another "
                "--out, or pass --overwrite to replace a run's outputs there (other files are "
                "kept)")
    return (f"the output folder {out} is not empty ({shown}): choose another --out, or pass "
            "--overwrite to write a run there beside those files (they are kept)")


class RunLock:
    """An exclusive fcntl.flock on <folder>/minigan.lock, held while a run writes there: a second
    run on the folder stops at once, naming the process in the file. The file is created with
    O_EXCL (or, left by a run that was killed, opened with O_NOFOLLOW: the kernel dropped that
    run's lock with it, and `stale` names its process) and removed on release."""

    def __init__(self, folder):
        self.path = Path(folder) / LOCK
        self.fd = None
        self.stale = None   # the pid a killed run left in the file, once acquired

    def acquire(self):
        """Take the lock, or OutputError naming the process that holds it."""
        while self.fd is None:
            fd, created = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _pid_in(fd) or "another process"
                os.close(fd)
                raise OutputError(f"the output folder {self.path.parent} is in use by process "
                                  f"{holder} (which holds {self.path}): wait for that run to "
                                  "end, or choose another --out") from None
            if self._is_linked(fd):    # not unlinked by a run that ended meanwhile
                self.fd = fd
            else:
                os.close(fd)
        self.stale = None if created else _pid_in(self.fd)
        try:   # the pid, for the message of a run that finds the folder taken
            os.ftruncate(self.fd, 0)
            os.write(self.fd, f"{os.getpid()}\n".encode())
        except OSError as exc:
            self.release()
            raise OutputError(f"cannot write to the output folder {self.path.parent} "
                              f"({exc.strerror}): choose a writable --out") from None

    def release(self):
        """Remove the file, then drop the lock (closing it): no run ever locks a removed file."""
        if self.fd is None:
            return
        try:
            if self._is_linked(self.fd):
                self.path.unlink()
        except OSError:
            pass   # left behind: the next run takes it over as a killed run's
        finally:
            os.close(self.fd)
            self.fd = None

    def _open(self):
        """(fd, created): the lock file, made new with O_EXCL or the one a killed run left."""
        flags = os.O_RDWR | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            try:
                return os.open(self.path, flags | os.O_CREAT | os.O_EXCL, 0o644), True
            except FileExistsError:
                return os.open(self.path, flags), False
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise OutputError(f"the run folder {self.path.parent} holds a symbolic link "
                                  f"minigan did not make, {LOCK} -> {os.readlink(self.path)}: "
                                  "remove it and run again") from None
            if isinstance(exc, FileNotFoundError):   # removed between the two opens: again
                return self._open()
            raise OutputError(f"cannot write to the output folder {self.path.parent} "
                              f"({exc.strerror}): choose a writable --out") from None

    def _is_linked(self, fd):
        try:
            return os.stat(self.path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            return False


def _pid_in(fd):
    """The process id written in a lock file, or None."""
    text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return int(text) if text.isdigit() else None
