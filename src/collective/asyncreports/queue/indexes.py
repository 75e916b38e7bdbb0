"""The queue's indexes: OOTreeSets of tuple keys, kept clear of write conflicts.

Every index of a JobQueue is an ``OOTreeSet`` made by ``new_index`` and
changed only through ``drop`` (and ``add``), so the tricks below hold for all.
"""

import heapq

from BTrees.OOBTree import OOTreeSet


# BTrees will not merge two concurrent changes to a bucket when one of them
# deletes the bucket's first key (or empties it), and a claim always deletes
# the smallest due key.  So every index starts with this key, which sorts
# before every real (tuple) key and is never deleted: claims and finishes
# then merge with concurrent enqueues instead of conflicting.
FIRST = ()


def new_index():
    """An empty index: nothing but ``FIRST``."""
    return OOTreeSet([FIRST])


def keys(index, start=FIRST, stop=None):
    """Real keys of an index in order, after ``start`` and up to ``stop``."""
    return index.keys(min=start, max=stop, excludemin=True)


def first(index, start=FIRST):
    """The first real key after ``start``, or None."""
    return next(iter(keys(index, start)), None)


def merged_keys(indexes):
    """The real keys of several indexes in order (merged, not sorted: each
    index is in order already)."""
    return heapq.merge(*(keys(index) for index in indexes))


def drained(index):
    """True if the index's first bucket holds only ``FIRST`` and more follow.

    Reads the tree's and the bucket's pickled state (documented BTrees
    format; both objects are loaded already): the root's state is
    ``(children and keys, first bucket)`` once the tree has buckets of its
    own, and a set bucket's state is ``(keys, next bucket)``.
    """
    state = index.__getstate__()
    if state is None or len(state) < 2:
        return False  # empty, or one bucket stored inline in the tree
    bucket = state[1].__getstate__()
    return len(bucket) == 2 and bucket[0] == (FIRST,)


def rotate(index):
    """Move ``FIRST`` into the next bucket once its own bucket is drained.

    Claims take keys from the front. Once the first bucket held nothing but
    ``FIRST``, each claim would delete the *first* key of the next bucket:
    BTrees then rewrite the parent node to update its separator key on every
    claim (a whole internal node, ~18 KB in a queue of 100,000 jobs), and
    such a bucket change never merges with a concurrent one (conflict reason
    13). Removing ``FIRST`` unlinks its empty bucket and adding it again
    puts it at the head of the new first bucket, so claims delete keys
    behind it again: the internal nodes are written once per drained bucket
    (as when a front bucket emptied before), not on every claim.
    """
    if drained(index):
        index.remove(FIRST)
        index.add(FIRST)


def drop(index, key):
    """Remove ``key`` from an index, keeping ``FIRST`` in a bucket with real keys."""
    rotate(index)
    index.remove(key)
    rotate(index)


# The keys of the indexes. Each ends with the job id, so ``key[-1]`` finds
# the job.

def due_key(job):
    """Key of a queued job in ``_due``, in claim order: highest priority,
    then earliest not_before, then oldest."""
    return (-job.priority, job.not_before, job.created, job.id)


def newest_key(job):
    """Key of a job in ``_newest``, the final states' and the running indexes:
    newest first."""
    return (-job.created, job.id)


def owner_key(job):
    """Key of a job in ``_by_owner``: by owner, then newest first."""
    return (job.owner_id, -job.created, job.id)
