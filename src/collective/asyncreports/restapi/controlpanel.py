"""``@controlpanels/asyncreports``: Site Setup > Async reports for Volto.

plone.restapi's registry control panel: the same schema and registry
records as the Classic UI's form (``plone/interfaces.py``); a change
reaches the queue through the same subscriber (``plone/settings.py``).
"""

from plone.base.interfaces import IPloneSiteRoot
from plone.registry.interfaces import IRegistry
from plone.restapi.controlpanels import RegistryConfigletPanel
from plone.restapi.interfaces import IControlpanelLayer
from zope.component import adapter
from zope.component import getUtility
from zope.interface import Interface

from collective.asyncreports.plone.interfaces import IAsyncReportsSettings


SCHEMA_PREFIX = "collective.asyncreports"  # profiles/default/registry.xml


@adapter(Interface, IControlpanelLayer)
class AsyncReportsControlpanel(RegistryConfigletPanel):
    schema = IAsyncReportsSettings
    schema_prefix = SCHEMA_PREFIX
    configlet_id = "asyncreports"  # profiles/default/controlpanel.xml
    configlet_category_id = "Products"


@adapter(IPloneSiteRoot)
def site_settings(site):
    """The site's settings as their schema (IAsyncReportsSettings, and IQueueNumbers
    it extends): the schema's invariant reads the settings a PATCH leaves alone
    through this adapter, as for Plone's own control panels."""
    return getUtility(IRegistry).forInterface(IAsyncReportsSettings, prefix=SCHEMA_PREFIX)
