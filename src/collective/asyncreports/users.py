"""Finding a job's owner: the user folder that holds a user id, and the user."""

from Acquisition import aq_base
from Acquisition import aq_inner
from Acquisition import aq_parent

from collective.asyncreports.errors import UnknownUser


def find_user(context, user_id):
    """Find ``user_id`` in the user folders from ``context`` up to the root.

    Returns the user wrapped in its user folder (submit() reads the folder's
    path from that wrapper). Raises UnknownUser when no user folder above ``context`` knows the id.
    """
    obj = aq_inner(context)
    while obj is not None:
        if getattr(aq_base(obj), "acl_users", None) is not None:
            folder = obj.acl_users
            user = folder.getUserById(user_id)
            if user is not None:
                return user.__of__(folder)
        obj = aq_parent(obj)
    raise UnknownUser(f"no user with id {user_id!r} exists in the user folders above this queue")


def load_user(root, folder_path, user_id):
    """Look the owner up again at run time, in the folder recorded on the job.

    Returns the wrapped user. Raises UnknownUser when the folder or the user
    is gone (a deleted user fails the job; there is no fallback user).
    """
    try:
        folder = root.unrestrictedTraverse(folder_path.lstrip("/"))
    except (AttributeError, KeyError, LookupError) as exc:
        raise UnknownUser(f"user folder {folder_path!r} of job owner {user_id!r} is gone") from exc
    user = folder.getUserById(user_id)
    if user is None:
        raise UnknownUser(f"job owner {user_id!r} no longer exists in {folder_path!r}")
    return user.__of__(folder)
