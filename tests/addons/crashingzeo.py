"""A ZEO server that SIGKILLs itself at a chosen moment of a commit (fault tests).

Usage: python -m crashingzeo -C zeo.conf, with CRASHING_ZEO_TRIGGER set to
a file path. When that file holds a moment, the next commit of any client
kills the server there; the file is removed first, so it happens once:

- ``vote``: the transaction is written and voted, not finished;
- ``finish``: at the start of tpc_finish (voted, not yet committed);
- ``finished``: committed on disk, the client not yet told.
"""

import os
import signal

from ZEO import runzeo
from ZODB.FileStorage import FileStorage


TRIGGER = os.environ["CRASHING_ZEO_TRIGGER"]


def crash_if(moment):
    try:
        with open(TRIGGER) as trigger:
            armed = trigger.read().strip()
    except FileNotFoundError:
        return
    if armed == moment:
        os.remove(TRIGGER)
        os.kill(os.getpid(), signal.SIGKILL)


def crashing(method, before=None, after=None):
    def wrapper(self, *args, **kw):
        if before:
            crash_if(before)
        result = method(self, *args, **kw)
        if after:
            crash_if(after)
        return result
    return wrapper


FileStorage.tpc_vote = crashing(FileStorage.tpc_vote, after="vote")
FileStorage.tpc_finish = crashing(FileStorage.tpc_finish, before="finish", after="finished")

if __name__ == "__main__":
    runzeo.main()
