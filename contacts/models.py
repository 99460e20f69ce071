"""Contact plans, caps, call lists and outcomes (see the contacts issue)."""
