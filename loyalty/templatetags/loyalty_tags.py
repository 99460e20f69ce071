"""The loyalty panel for other apps' pages; `customers` renders it without importing loyalty.

On the customer page: {% load loyalty_tags %} ... {% loyalty_panel customer %}
"""

from django import template

from loyalty.selectors import customer_panel_for

register = template.Library()


@register.inclusion_tag("loyalty/_partials/customer_panel.html", takes_context=True)
def loyalty_panel(context, customer) -> dict:
    request = context["request"]
    return {
        "loyalty": customer_panel_for(customer=customer, user=request.user),
        "request": request,
        "csrf_token": context.get("csrf_token"),
        "perms": context.get("perms"),
    }
