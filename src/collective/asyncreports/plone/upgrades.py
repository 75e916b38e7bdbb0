"""Upgrade steps of the default profile."""

RESTAPI_PROFILE = "plone.restapi:default"


def install_restapi(setup_tool):
    """Apply plone.restapi's profile on a site installed before the REST API (1000 -> 1001)."""
    if setup_tool.getLastVersionForProfile(RESTAPI_PROFILE) == "unknown":
        setup_tool.runAllImportStepsFromProfile(f"profile-{RESTAPI_PROFILE}")
