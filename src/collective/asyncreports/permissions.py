"""Permission names, in one place; registered in permissions.zcml."""

from AccessControl.Permission import addPermission


QueueReport = "collective.asyncreports: Queue report"
ManageQueue = "collective.asyncreports: Manage queue"
ViewMetrics = "collective.asyncreports: View metrics"
View = "View"

addPermission(QueueReport, ("Manager",))
addPermission(ManageQueue, ("Manager",))
# A scrape user needs this one alone (the queue's ``metrics``).
addPermission(ViewMetrics, ("Manager",))
