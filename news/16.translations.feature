Translations everywhere a person looks: the PDF's own words (footer "Page N of M" and
"Generated ...", "Total", "Other", "No data to chart."), the built-in reports' headings,
labels, titles and parameters, the ZMI tabs (with the job states), the messages of
``actions`` and ``submission``, in German and Spanish. A report is made in its owner's
language (Plone member property ``language``), else the site's (``plone.default_language``),
else English; the worker's synthetic request negotiates that language too, so an add-on's
``translate(message, context=request)`` gets it, and the footer's date is written as that
locale writes dates.
