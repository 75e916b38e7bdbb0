"""Where the queues are: a registry of queue paths at the ZODB root.

Workers read it to find every queue without being told; ZMI add, rename, move
and delete keep it current through object events.
"""

from BTrees.OOBTree import OOTreeSet


ROOT_KEY = "collective.asyncreports.queues"


def _paths(root, create=False):
    if ROOT_KEY not in root and create:
        root[ROOT_KEY] = OOTreeSet()
    return root.get(ROOT_KEY)


def queue_paths(root):
    """Physical paths of every registered queue, sorted."""
    paths = _paths(root)
    return list(paths) if paths is not None else []


def queue_moved(queue, event):
    """Object-event handler: register, move or forget a queue's path."""
    container = event.newParent if event.newParent is not None else event.oldParent
    jar = container._p_jar
    if jar is None:
        return
    paths = _paths(jar.root(), create=True)
    if event.oldParent is not None:
        paths.discard("/".join(event.oldParent.getPhysicalPath() + (event.oldName,)))
    if event.newParent is not None:
        paths.add("/".join(event.newParent.getPhysicalPath() + (event.newName,)))
