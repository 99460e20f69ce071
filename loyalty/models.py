"""The points programme (see the loyalty issue)."""
