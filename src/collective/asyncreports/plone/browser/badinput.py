"""The page for a BadInput (a 400): what was wrong, in the site's layout."""

from Products.Five.browser import BrowserView
from Products.Five.browser.pagetemplatefile import ViewPageTemplateFile


class BadInputView(BrowserView):
    """Exception view (``index.html``) for validation.BadInput.

    Plone's own error page would say only that something went wrong; this
    one says what, escaped, with no traceback, to managers and others alike.
    """

    index = ViewPageTemplateFile("templates/badinput.pt")
    basic = ViewPageTemplateFile("templates/badinput_basic.pt")

    def __call__(self):
        self.request.response.setStatus(400)
        self.request.set("disable_border", True)
        message = str(self.context)
        # The exception is the view's context; templates render in the site.
        self.context = self.__parent__
        try:
            return self.index(message=message)
        except Exception:  # noqa: BLE001 - the layout broke: the plain page still says why
            return self.basic(message=message)
