Plone 6 integration: the *Async reports* add-on (GenericSetup profiles with an uninstall
profile), the site's queue, results as private Plone content in ``/reports``, the Site Setup
control panel (settings, queue, workers), *Generate report* on folders and *My reports* for
every signed-in user.
