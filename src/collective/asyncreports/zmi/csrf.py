"""CSRF tokens for the ZMI forms of a queue (plain Zope has no plone.protect)."""

import hashlib
import hmac

from AccessControl import getSecurityManager
from zExceptions import Forbidden


TOKEN_FIELD = "_authenticator"


def csrf_token(secret):
    """Token for the current user, derived from the queue's secret."""
    user_id = getSecurityManager().getUser().getId() or ""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def check_csrf(secret, request):
    """Raise Forbidden unless ``request`` carries the current user's token."""
    given = request.form.get(TOKEN_FIELD, "")
    if not isinstance(given, str) or not hmac.compare_digest(given, csrf_token(secret)):
        raise Forbidden("missing or wrong form token: reload the form and try again")
