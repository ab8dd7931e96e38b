"""Waiting for the other ranks with a limit. Before each host collective the ranks meet at a
non-blocking barrier, tested until it completes; a rank that has waited longer than the timeout
calls the roll (a message to every other rank, which a rank waiting at a barrier answers) and
names the ranks that did not answer: stopped (SIGSTOP), hung, or too far behind.

A blocking MPI call would wait forever for a rank that never comes, spinning a core (MPICH polls).
"""
import time

import numpy as np

from minigan.distributed.collectives import DistributedError

# Seconds a rank waits in a collective for the others before it stops the run. Generous: between
# epochs rank 0 alone writes the outputs and may score thousands of samples while the others
# wait in their next collective.
COLLECTIVE_TIMEOUT = 300.0
ROLL_CALL_SECONDS = 2.0   # how long a rank that timed out waits for the others to answer
SPIN_SECONDS = 0.01       # tests without sleeping first: a sleep lasts 50 us or more, an arrival
                          # in a balanced step takes a few
MAX_PAUSE = 0.02          # the longest sleep between two tests of a pending barrier
HERE = 7301               # the roll call's message tag, on a communicator of its own


class Waiter:
    """Waits for the non-blocking requests (the barriers) of `comm` (an mpi4py communicator),
    `timeout` seconds at most. Every rank makes one, together (it duplicates comm for the roll
    call)."""

    def __init__(self, comm, MPI, timeout=COLLECTIVE_TIMEOUT):
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or \
                not timeout > 0:
            raise ValueError(f"timeout must be a number of seconds > 0, got {timeout!r}")
        self.MPI, self.timeout = MPI, float(timeout)
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.roll = comm.Dup()          # the roll call's messages never meet a collective's
        self.here = np.array([self.rank], dtype=np.int32)
        self.heard = np.empty(1, dtype=np.int32)
        self.sent = []                  # the roll call's requests: their buffers stay alive

    def wait(self, request, what):
        """Wait until `request` (for `what`: "an all-reduce"...) completes: tests back to back
        for SPIN_SECONDS, then with sleeps between them (a twentieth of the wait so far, at
        most MAX_PAUSE: a long wait costs no CPU and at most 5% more time), answering roll
        calls; DistributedError naming the silent ranks after `timeout` seconds."""
        start = time.monotonic()
        while not request.Test():
            waited = time.monotonic() - start
            if waited > self.timeout:
                raise DistributedError(self.silence(what))
            if waited > SPIN_SECONDS:
                self.answer()
                time.sleep(min(MAX_PAUSE, waited / 20))

    def answer(self):
        """Tell every rank whose roll call has come that this one is here, waiting too."""
        status = self.MPI.Status()
        while self.roll.Iprobe(source=self.MPI.ANY_SOURCE, tag=HERE, status=status):
            caller = status.Get_source()
            self.roll.Recv(self.heard, source=caller, tag=HERE)
            self.sent.append(self.roll.Isend(self.here, dest=caller, tag=HERE))

    def silence(self, what):
        """Call the roll and say, in one line, which ranks did not answer it."""
        others = [r for r in range(self.size) if r != self.rank]
        self.sent += [self.roll.Isend(self.here, dest=r, tag=HERE) for r in others]
        present, status = set(), self.MPI.Status()
        end = time.monotonic() + ROLL_CALL_SECONDS
        while len(present) < len(others) and time.monotonic() < end:
            if self.roll.Iprobe(source=self.MPI.ANY_SOURCE, tag=HERE, status=status):
                self.roll.Recv(self.heard, source=status.Get_source(), tag=HERE)
                present.add(status.Get_source())
            else:
                time.sleep(0.01)
        silent = [r for r in others if r not in present]
        if not silent:
            return (f"every process answered, but {what} did not complete within "
                    f"{self.timeout:g} s: the processes are not running the same program")
        names = ", ".join(map(str, silent))
        return (f"process{'es' if len(silent) > 1 else ''} {names} of {self.size} did not join "
                f"{what} within {self.timeout:g} s (stopped, hung or killed)")


__all__ = ["COLLECTIVE_TIMEOUT", "MAX_PAUSE", "ROLL_CALL_SECONDS", "SPIN_SECONDS", "Waiter"]
