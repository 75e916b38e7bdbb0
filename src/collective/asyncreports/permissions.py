"""Permission names, in one place; registered in permissions.zcml."""

from AccessControl.Permission import addPermission


QueueReport = "collective.asyncreports: Queue report"
ManageQueue = "collective.asyncreports: Manage queue"
View = "View"

addPermission(QueueReport, ("Manager",))
addPermission(ManageQueue, ("Manager",))
