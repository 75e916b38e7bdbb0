"""The site a development system serves: admin user, ZMI queue, Plone site, demo content.

Runs in a child process that boots Zope from the instance's zope.conf
(``python -m collective.asyncreports.dev bootstrap``, see
``Instance.bootstrap``), while the ZEO server runs and before Zope starts.
"""


QUEUE_ID = "asyncreports"
ADMIN = "admin"
PLONE_ID = "Plone"
EDITOR = "editor"
# Plone's default theme is a profile of its own: without it the site is unstyled.
PLONE_PROFILES = (
    "plone.app.contenttypes:default",
    "plonetheme.barceloneta:default",
    "collective.asyncreports:default",
)


def plone_installed():
    """True when the [plone] extra is installed."""
    import importlib.util

    return importlib.util.find_spec("Products.CMFPlone") is not None


def bootstrap(instance, password, plone=False):
    """In a booted Zope: admin user and queue, created once (runs in a child process)."""
    import transaction

    from collective.asyncreports.worker.boot import boot
    from collective.asyncreports.zmi.queue import manage_addAsyncReportQueue

    app = boot(instance.zope_conf)
    users = app.acl_users
    if users.getUserById(ADMIN) is None:
        users._doAddUser(ADMIN, password, ["Manager"], [])
    if QUEUE_ID not in app.objectIds():
        manage_addAsyncReportQueue(app, QUEUE_ID, "Async reports")
    app._getOb(QUEUE_ID).server_url = instance.url
    transaction.commit()
    if plone:
        bootstrap_plone(app, instance, users.getUserById(ADMIN).__of__(users))
    app._p_jar.close()


def bootstrap_plone(app, instance, admin):
    """Create /Plone with the theme, the add-on, a demo folder and an Editor, once."""
    import transaction
    from AccessControl.SecurityManagement import newSecurityManager
    from AccessControl.SecurityManagement import noSecurityManager
    from Testing.makerequest import makerequest
    from zope.component.hooks import setSite
    from zope.globalrequest import setRequest

    app = makerequest(app)
    setRequest(app.REQUEST)
    newSecurityManager(app.REQUEST, admin)
    try:
        if PLONE_ID not in app.objectIds():
            from Products.CMFPlone.factory import addPloneSite

            print("creating the Plone site /Plone (takes a while the first time)", flush=True)
            site = addPloneSite(
                app, PLONE_ID, title="Async reports demo", setup_content=False,
                extension_ids=PLONE_PROFILES)
            setSite(site)
            _plone_demo_content(site, instance.editor_password())
            transaction.commit()
        site = app._getOb(PLONE_ID)
        setSite(site)
        # A site made by an older bootstrap (var/ is kept) may lack a profile.
        setup = site.portal_setup
        for profile in PLONE_PROFILES:
            if setup.getLastVersionForProfile(profile) == "unknown":
                print(f"installing {profile} in /{PLONE_ID}", flush=True)
                setup.runAllImportStepsFromProfile(f"profile-{profile}")
        from plone import api

        api.portal.set_registry_record(
            "collective.asyncreports.server_url", f"{instance.url}/{PLONE_ID}")
        # plone.app.theming leaves requests to 127.0.0.1 unthemed by default;
        # the site is served there, so theme every host name.
        api.portal.set_registry_record(
            "plone.app.theming.interfaces.IThemeSettings.hostnameBlacklist", [])
        transaction.commit()
    finally:
        setSite(None)
        noSecurityManager()


def _plone_demo_content(site, editor_password):
    from plone import api

    site.acl_users.userFolderAddUser(EDITOR, editor_password, ["Member", "Editor"], [])
    api.user.get(EDITOR).setMemberProperties(
        {"email": "editor@example.org", "fullname": "Demo Editor"})
    demo = api.content.create(site, "Folder", id="demo", title="Demo folder")
    for number, title in enumerate(("Welcome", "Annual plan", "Meeting notes"), 1):
        page = api.content.create(demo, "Document", id=f"page-{number}", title=title)
        api.content.transition(page, "publish")
    news = api.content.create(demo, "Folder", id="news", title="News")
    api.content.create(news, "News Item", id="launch", title="The reports service is live")
    api.content.transition(demo, "publish")
