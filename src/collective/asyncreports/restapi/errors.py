"""Errors of our endpoints: plone.restapi's error JSON without a traceback.

plone.rest's ErrorHandling adds the traceback of an error to its JSON for
users with *Manage portal* on the site (in any mode, not only in debug
mode). Our rule is that no answer shows server internals, to managers
neither: the traceback is in the site's error log, which the job's error
links to.
"""

from plone.rest.errors import ErrorHandling


class ErrorWithoutTraceback(ErrorHandling):
    """plone.rest's error view for IAsyncReportsAPIRequest, minus the traceback."""

    def render_exception(self, exception):
        result = super().render_exception(exception)
        if result is not None:
            result.pop("traceback", None)
        return result
