"""The REST API of the queue, on plone.restapi (services, expansion, control panel)."""
