"""Template tags other apps' pages use to show contacts without importing contacts' Python code.

On the customer page: {% load contacts_tags %} ... {% customer_contacts_panel customer %}
"""

from django import template

from contacts.selectors import customer_contacts_context, overdue_key_account_count

register = template.Library()


@register.inclusion_tag("contacts/_partials/customer_contacts.html", takes_context=True)
def customer_contacts_panel(context, customer) -> dict:
    """The contacts panel of one customer (already checked as visible to the request's user)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    return {
        **customer_contacts_context(customer=customer, user=user),
        "request": request,
        "perms": context.get("perms"),
    }


@register.simple_tag(takes_context=True)
def overdue_key_accounts(context) -> int:
    """How many key accounts the request's user may see went without a personal contact too long."""
    request = context.get("request")
    return overdue_key_account_count(user=request.user) if request else 0
