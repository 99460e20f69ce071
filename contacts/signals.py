"""Domain signals of contacts, for the apps that build on it (loyalty) without contacts importing them.

Receivers get ids and answer with plain data; they must be set-based (one query per call, not per
customer), because a call list or a night's messages ask for many customers at once.
"""

from django.dispatch import Signal

# Sent by the call list with `customer_ids: list[int]`. Each receiver returns
# {customer_id: {"label": str, "value": str}} (or a list of such dicts per customer), e.g. loyalty's
# points balance and tier; the call list shows every extra that arrives, in receiver order.
call_list_extras = Signal()

# Sent before messages are rendered with `customer_ids: list[int]`. Each receiver returns
# {customer_id: {variable: value}}, e.g. {"points_balance": 1200, "tier": "Gold"}; the values
# become template variables ({{ points_balance }}, {{ tier }}). Missing variables render empty.
message_variables = Signal()

# Sent after a call or other personal contact was logged, with `touch_id: int`, `customer_id: int`
# and `outcome: str`, inside the logging transaction.
contact_logged = Signal()

# Sent after a survey was answered, with `feedback_id: int`, `customer_id: int`, `score: int`.
feedback_received = Signal()


def merge_responses(responses) -> dict[int, list[dict]]:
    """Merges the answers of several receivers into {customer_id: [dict, ...]}."""
    merged: dict[int, list[dict]] = {}
    for _receiver, answer in responses:
        if not isinstance(answer, dict):
            continue
        for customer_id, value in answer.items():
            items = value if isinstance(value, list) else [value]
            merged.setdefault(customer_id, []).extend(
                item for item in items if isinstance(item, dict)
            )
    return merged
