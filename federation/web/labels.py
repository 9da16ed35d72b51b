"""Display names of the schema's enumerated values, in English; templates translate them with `_()`."""

from __future__ import annotations


def N_(message: str) -> str:
    """Mark `message` for translation where it is defined; it is translated where it is shown."""
    return message


RESOURCE_KINDS = {
    "vehicle": N_("Vehicle"),
    "room": N_("Room"),
    "tool": N_("Tool"),
    "equipment": N_("Equipment"),
    "garden": N_("Garden"),
    "other": N_("Other"),
}
RESOURCE_STATUSES = {"available": N_("Available"), "unavailable": N_("Unavailable"), "retired": N_("Retired")}
BORROWERS = {
    "inhabitants": N_("Inhabitants"),
    "associations": N_("Associations"),
    "regies": N_("Other régies"),
    "local_authorities": N_("Local authorities"),
    "social_landlords": N_("Social landlords"),
    "businesses": N_("Businesses"),
}
ACTIVITY_STATUSES = {
    "planned": N_("Planned"),
    "active": N_("Active"),
    "suspended": N_("Suspended"),
    "ended": N_("Ended"),
}
REPORT_STATES = {
    "draft": N_("Draft"),
    "submitted": N_("Submitted"),
    "validated": N_("Validated"),
    "returned": N_("Returned"),
    # Only on the hub, under two-level approval: the régie's node keeps the report submitted.
    "validated_regional": N_("Validated at regional level"),
}
# A member's label (NodeProfile.label_status): as the hub grants it, or as a régie claims it.
LABEL_STATUSES = {"en_projet": N_("Label in progress"), "labellisee": N_("Labelled")}
# What a report's history entry records (AuditEntry.action).
REPORT_ACTIONS = {
    "created": N_("Created"),
    "updated": N_("Changed"),
    "submitted": N_("Submitted"),
    "validated": N_("Validated"),
    "validated_regional": N_("Validated at regional level"),
    "returned": N_("Returned"),
    "deleted": N_("Deleted"),
}
WEEKDAYS = {
    1: N_("Monday"),
    2: N_("Tuesday"),
    3: N_("Wednesday"),
    4: N_("Thursday"),
    5: N_("Friday"),
    6: N_("Saturday"),
    7: N_("Sunday"),
}
ROLES = {
    "admin": N_("Administrator"),
    "staff": N_("Staff"),
    "national": N_("National coordinator"),
    "regional": N_("Regional coordinator"),
}
