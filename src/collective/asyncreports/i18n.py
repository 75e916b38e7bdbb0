"""Translations: the message factory, messages in the request's language, and a report's
language (its texts, dates and the worker's synthetic request).

Which language a report is made in is decided in one place,
``rendering.site_header.document_defaults``; this module only applies it.
"""

import datetime

from zope.component import queryUtility
from zope.globalrequest import getRequest
from zope.i18n import translate
from zope.i18n.interfaces import ITranslationDomain
from zope.i18n.locales import LoadLocaleError
from zope.i18n.locales import locales
from zope.i18nmessageid import Message
from zope.i18nmessageid import MessageFactory


DOMAIN = "collective.asyncreports"
_ = MessageFactory(DOMAIN)

# What a report is made in when neither its owner nor its site says (plain Zope).
DEFAULT_LANGUAGE = "en"


def normalized(language):
    """Return a language code as zope.i18n compares them ('de_AT' -> 'de-at'), or None.

    :param language: A code such as ``de``, ``pt_BR`` or ``de-AT``; anything that is
        not a non-empty string gives None.
    """
    if not isinstance(language, str):
        return None
    code = language.strip().lower().replace("_", "-")
    return code or None


def say(message, request=None):
    """Return ``message`` as text in the request's language (English without one).

    For messages that travel as plain text (ZMI tab messages, REST bodies,
    exceptions shown to people): Plone's negotiated language, in the ZMI the
    browser's (Accept-Language), in a worker the report's (:func:`use_language`).

    :param message: A Message of this domain (or plain text, returned as it is).
    :param request: The request to negotiate with; the current one by default.
    """
    if not isinstance(message, Message):
        return message
    request = request if request is not None else getRequest()
    return translate(message, context=request) if request is not None else translate(message)


def in_language(message, language):
    """Return ``message`` translated into ``language`` (a code; None: English).

    ``de-at`` uses the ``de`` catalog when there is no ``de-at`` one.
    """
    if not isinstance(message, Message):
        return message
    return translate(message, target_language=_catalog_language(message.domain, language))


def _catalog_language(domain_name, language):
    language = normalized(language)
    if language is None:
        return None
    domain = queryUtility(ITranslationDomain, domain_name)
    known = domain.getCatalogsInfo() if hasattr(domain, "getCatalogsInfo") else {}
    base = language.split("-")[0]
    return base if language not in known and base in known else language


def use_language(request, language):
    """Make a worker's synthetic ``request`` negotiate ``language``.

    Then ``translate(message, context=request)`` (any domain: report types of
    add-ons too), ``request.locale`` and, in Plone, ``request["LANGUAGE"]`` and
    the language binding that Plone's views read all give ``language``.
    """
    request.environ["HTTP_ACCEPT_LANGUAGE"] = language
    request["LANGUAGE"] = language
    try:
        from plone.i18n.utility import LanguageBinding
    except ImportError:  # plain Zope: Accept-Language is all it reads
        pass
    else:
        # Bound now, Plone does not bind the site's negotiated language later.
        binding = LanguageBinding()
        binding.LANGUAGE = binding.DEFAULT_LANGUAGE = language
        binding.LANGUAGE_LIST = [language]
        request["LANGUAGE_TOOL"] = binding
    request.setupLocale()


def locale_of(language):
    """The zope.i18n locale of ``language`` (``de``, ``es-mx``...); English when unknown."""
    parts = (normalized(language) or DEFAULT_LANGUAGE).split("-")
    candidates = []
    if len(parts) > 1 and parts[1]:
        candidates.append((parts[0], parts[1].upper()))
    candidates += [(parts[0], None), (DEFAULT_LANGUAGE, None)]
    for language_part, country in candidates:
        try:
            return locales.getLocale(language_part, country)
        except LoadLocaleError:
            continue
    return locales.getLocale(None, None, None)


def format_datetime(value, language, length="long"):
    """Return an aware (or UTC) datetime in UTC as ``language``'s locale writes it.

    ``length`` "long": ``4. Dezember 2026 19:05:07 UTC``; "medium":
    ``04.12.2026 19:05:07 UTC``. The zone is always UTC, said in the text.
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    value = value.astimezone(datetime.UTC)
    dates = locale_of(language).dates
    day = dates.getFormatter("date", length).format(value.date())
    time = dates.getFormatter("time", "medium").format(value.time())
    return f"{day} {time} UTC"


# Words the templates translate by their value (``tal:content="row/state_label"
# i18n:translate=""``), where i18ndude cannot see them: listed for the .pot.
SHOWN_BY_VALUE = (
    # The states and standings a listing shows (queue/states.py, queue/position.py).
    _("queued"), _("running"), _("waiting"), _("done"), _("failed"), _("cancelled"),
    # A worker's status (ZMI Workers tab).
    _("alive"), _("silent"), _("stopped"),
    # A job page's times (ZMI).
    _("Created"), _("Not before"), _("Started"), _("Finished"),
    # A schedule's buttons and its form's (ZMI Schedules tab).
    _("Pause"), _("Resume"), _("Run now"), _("Delete"), _("Save schedule"), _("Add schedule"),
)
