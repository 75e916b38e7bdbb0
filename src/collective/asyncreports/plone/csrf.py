"""ZMI form tokens from plone.protect, so its automatic CSRF guard accepts them.

Where Plone is installed, plone.protect checks every write of every request,
also in the ZMI of a plain queue at the Zope root. Its tokens come from a key
manager: the site's utility, or (at the Zope root) one kept on the root.
"""

from plone.keyring.interfaces import IKeyManager
from plone.protect.authenticator import check
from plone.protect.authenticator import createToken
from plone.protect.utils import getRoot
from plone.protect.utils import getRootKeyManager
from zExceptions import Forbidden
from zope.component import queryUtility
from zope.interface import implementer

from collective.asyncreports.csrf import ICSRFTokens


def _key_manager(request):
    manager = queryUtility(IKeyManager)
    if manager is None:
        manager = getRootKeyManager(getRoot(request["PARENTS"][-1]))
    return manager


@implementer(ICSRFTokens)
class PloneProtectTokens:
    """plone.protect's ``_authenticator`` for the queue's ZMI forms."""

    def token(self, request):
        return createToken(manager=_key_manager(request))

    def valid(self, request):
        try:
            check(request, manager=_key_manager(request))
        except Forbidden:
            return False
        return True
