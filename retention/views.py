"""Project-level pages: the health check and the home page."""

import logging

from django.conf import settings
from django.contrib.auth.context_processors import PermWrapper
from django.contrib.auth.mixins import LoginRequiredMixin
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect
from django.template import Context
from django.template.loader import get_template
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.generic import TemplateView

from customers.models import Customer
from customers.selectors import base_overview_for

logger = logging.getLogger(__name__)


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def _check_broker() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "in-process"
    from .celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=3)
    return "ok"


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database and the broker answer, 503 (with which one failed) otherwise."""
    checks: dict[str, str] = {}
    healthy = True
    for name, check in (("database", _check_database), ("broker", _check_broker)):
        try:
            checks[name] = check()
        except Exception as error:  # noqa: BLE001 - any failure of a dependency means unhealthy
            logger.warning("healthz.failed check=%s error=%s", name, type(error).__name__)
            checks[name] = "error"
            healthy = False
    return JsonResponse(
        {"status": "ok" if healthy else "error", "checks": checks}, status=200 if healthy else 503
    )


class HomeView(LoginRequiredMixin, TemplateView):
    """Managers start on the dashboard; everyone else on an overview of what they cover."""

    template_name = "home.html"

    def get(self, request, *args, **kwargs):
        if request.user.has_perm("customers.view_all_customers"):
            return redirect("dashboard")
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["overview"] = base_overview_for(self.request.user)
        return context


class CustomerPanelView(LoginRequiredMixin, View):
    """A panel of the customer page that another app renders (loyalty, contacts), loaded by htmx
    after the page, so the page itself stays within its query budget.

    The project composes the apps here: `customers` never imports them, and each panel is the
    app's own template tag. Visibility is checked first (404 when the user may not see the
    customer). The panel is rendered without the context processors (the navigation's role
    flags), which a fragment does not show.
    """

    PANELS = {
        "loyalty": "customers/_partials/panel_loyalty.html",
        "contacts": "customers/_partials/panel_contacts.html",
    }

    def get(self, request: HttpRequest, pk: int, name: str) -> HttpResponse:
        if name not in self.PANELS:
            raise Http404
        customer = get_object_or_404(Customer.objects.visible_to(request.user), pk=pk)
        html = get_template(self.PANELS[name]).template.render(
            Context(
                {
                    "customer": customer,
                    "request": request,
                    "user": request.user,
                    "perms": PermWrapper(request.user),
                    "csrf_token": get_token(request),
                },
                autoescape=True,
            )
        )
        return HttpResponse(html)
