"""The one guard of every state change: a POST carrying the user's form token.

Every view or method that changes data calls ``check_post`` (ZMI tabs, the
ZMI add form, Plone views).

Plain Zope has no plone.protect, so a queue signs a per-user token with a
secret of its own. Where Plone is installed, plone.protect guards every write
in every request, ZMI included; the Plone integration then registers an
ICSRFTokens utility so these forms carry plone.protect's own token instead.

The add form comes before any queue and its secret: it uses a double-submit
cookie, a random token set as a SameSite=Strict cookie and sent back in the
form. Another site's page can neither read that cookie nor make the
browser send it.
"""

import hashlib
import hmac
import secrets

from AccessControl import getSecurityManager
from zExceptions import Forbidden
from zope.component import queryUtility
from zope.interface import Interface


TOKEN_FIELD = "_authenticator"
ADD_FORM_COOKIE = "asyncreports_add_token"


class ICSRFTokens(Interface):
    """Makes and checks the ``_authenticator`` value of state-changing forms."""

    def token(request):
        """Return the token for the current user."""

    def valid(request):
        """Return True if ``request`` carries a valid token."""


def _signed(secret):
    user_id = getSecurityManager().getUser().getId() or ""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def csrf_token(secret, request):
    """Token for the current user (``secret`` is the queue's own)."""
    tokens = queryUtility(ICSRFTokens)
    return tokens.token(request) if tokens is not None else _signed(secret)


def check_post(request, secret=None):
    """Raise Forbidden unless ``request`` is a POST with the current user's token.

    ``secret`` is the queue's own, for plain Zope; where Plone is installed
    the ICSRFTokens utility (plone.protect) checks the token instead.
    """
    _check(request, _signed(secret) if secret is not None else None, "form")


def add_form_token(request):
    """Token for the add form (no queue yet, so no queue secret)."""
    tokens = queryUtility(ICSRFTokens)
    if tokens is not None:
        return tokens.token(request)
    token = secrets.token_hex(16)
    request.response.setCookie(ADD_FORM_COOKIE, token, path="/", http_only=True,
                               same_site="Strict")
    return token


def check_add_form(request):
    """Raise Forbidden unless the add form posted its token with its cookie."""
    _check(request, request.cookies.get(ADD_FORM_COOKIE), "add form")


def _check(request, expected, form):
    """The guard: a POST, and the form's token (plone.protect's, else ``expected``)."""
    # A link or an image must not change anything: forms post.
    if request.get("REQUEST_METHOD") != "POST":
        raise Forbidden(f"this action changes data: it needs a POST from its {form}")
    tokens = queryUtility(ICSRFTokens)
    if tokens is not None:
        valid = tokens.valid(request)
    else:
        given = request.form.get(TOKEN_FIELD, "")
        valid = isinstance(given, str) and bool(expected) and hmac.compare_digest(given, expected)
    if not valid:
        raise Forbidden(f"missing or wrong form token: reload the {form} and try again")
