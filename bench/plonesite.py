"""Scenario 12's content: FOLDERS folders of PAGES pages each in the bench's /Plone.

    python plonesite.py ZOPE_CONF FOLDERS PAGES

Boots Zope from the bench's zope.conf (a ZEO client beside the bench), then
adds the content as admin, 500 pages per commit, and prints one JSON line:
seconds and counts. Folders through ``plone.api.content.create``; pages the
short way, for speed (``plone.api`` took 74 ms a page here, 12 minutes for
10,000): ``createContent`` (a UUID, creator and dates), added without the
container's events, the workflow's initial state, and cataloged, which is
what the Content inventory reads (portal_type, review_state, title, path,
modified, creator).
"""

import json
import sys
import time


def main(argv):
    zope_conf, folders, pages = argv[0], int(argv[1]), int(argv[2])
    import transaction
    from AccessControl.SecurityManagement import newSecurityManager
    from plone import api
    from plone.dexterity.utils import createContent
    from Testing.makerequest import makerequest
    from zope.component.hooks import setSite
    from zope.globalrequest import setRequest

    from collective.asyncreports.worker.boot import boot

    app = makerequest(boot(zope_conf))
    setRequest(app.REQUEST)
    users = app.acl_users
    newSecurityManager(app.REQUEST, users.getUserById("admin").__of__(users))
    site = app.Plone
    setSite(site)
    workflow, catalog = site.portal_workflow, site.portal_catalog
    started = time.monotonic()
    made = 0
    for number in range(folders):
        folder = api.content.create(site, "Folder", id=f"section-{number:03d}", safe_id=True,
                                    title=f"Section {number}")
        for page in range(pages):
            page_id = f"page-{page:04d}"
            content = createContent("Document", id=page_id,
                                    title=f"Page {page} of section {number}",
                                    description="A page of the bench's big Plone site.")
            content.setCreators(("admin",))
            folder._setObject(page_id, content, suppress_events=True)
            content = folder._getOb(page_id)
            workflow.notifyCreated(content)
            catalog.catalog_object(content)
            made += 1
            if made % 500 == 0:
                transaction.commit()
                app._p_jar.cacheMinimize()
    transaction.commit()
    print(json.dumps({"seconds": time.monotonic() - started, "folders": folders,
                      "pages": made}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
