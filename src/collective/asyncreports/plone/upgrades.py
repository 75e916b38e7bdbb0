"""Upgrade steps of the default profile."""

RESTAPI_PROFILE = "plone.restapi:default"


def install_restapi(setup_tool):
    """Apply plone.restapi's profile on a site installed before the REST API (1000 -> 1001)."""
    if setup_tool.getLastVersionForProfile(RESTAPI_PROFILE) == "unknown":
        setup_tool.runAllImportStepsFromProfile(f"profile-{RESTAPI_PROFILE}")


def add_setting_records(setup_tool):
    """Register the registry records of settings added since (notifications: 1001 -> 1002),
    and give *View metrics* its roles.

    The registry step keeps the values of records that exist.
    """
    for step in ("plone.app.registry", "rolemap"):
        setup_tool.runImportStepFromProfile(
            "profile-collective.asyncreports:default", step, run_dependencies=False)


def add_my_schedules_action(setup_tool):
    """Add *My schedules* to the user actions, beside *My reports* (1002 -> 1003)."""
    setup_tool.runImportStepFromProfile(
        "profile-collective.asyncreports:default", "actions", run_dependencies=False)
