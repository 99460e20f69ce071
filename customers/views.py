"""Customer pages. Views parse input, call one selector or service, and render."""

import hashlib

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin, PermissionRequiredMixin
from django.core.paginator import Paginator
from django.http import HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import DetailView, FormView, ListView, TemplateView

from common.audit import AuditAction, export_filters, record_audit_event
from common.caching import kept
from common.csv import stream_rows
from common.errors import DomainError

from . import selectors, services
from .errors import ReassignmentError
from .forms import (
    CustomerFilterForm,
    CustomerForm,
    CustomerReassignOneForm,
    PurchaseForm,
    ReassignForm,
)
from .models import Customer, Purchase, ScoringSettings
from .templatetags.customer_rows import ROW_VALUES

PAGE_SIZE = 50
PURCHASES_PER_PAGE = 25


class CountedPaginator(Paginator):
    """A paginator told its count (already known from an aggregate), saving a COUNT query."""

    def __init__(self, object_list, per_page, *, count: int, **kwargs) -> None:
        super().__init__(object_list, per_page, **kwargs)
        self._known_count = count

    @property
    def count(self) -> int:
        return self._known_count


class CachedCountPaginator(Paginator):
    """A paginator whose count of a long list is kept in the cache for a minute.

    Counting a filtered list of the whole base costs PostgreSQL 10-60 ms on 100k customers (a
    join with the scores for risk or dormant filters), on every page of it. A count of at least
    `CACHE_FROM` rows is kept for `CACHE_SECONDS` under `count_key`, so the badge and "page N of
    M" of a long list may lag behind by a minute: within that minute a customer added at the very
    end of a list of exactly full pages has no "next" link yet, and a list that shrank shows its
    last page empty. A shorter list, where one more or one fewer customer is something a person
    notices, is counted on every request.
    """

    CACHE_FROM = 1000
    CACHE_SECONDS = 60

    def __init__(self, object_list, per_page, *, count_key: str, **kwargs) -> None:
        super().__init__(object_list, per_page, **kwargs)
        self.count_key = count_key

    @cached_property
    def count(self) -> int:
        return kept(
            self.count_key, self.CACHE_SECONDS, lambda: Paginator.count.func(self),
            worth_keeping=lambda counted: counted >= self.CACHE_FROM,
        )

    def page(self, number):
        # Rows come from the list itself, not from the kept count: a customer added within the
        # minute still shows on the last page (Paginator would cut the page at the count).
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        return self._get_page(self.object_list[bottom : bottom + self.per_page], number, self)


def _count_key(user, form) -> str:
    # Every filter that narrows the list, False included ("not dormant" is a filter; an unticked
    # "unassigned only" is always present and always False, so it changes no key).
    filters = sorted(
        (name, str(getattr(value, "pk", value)))
        for name, value in (form.cleaned_data if form.is_valid() else {}).items()
        if name != "ordering" and value not in (None, "")
    )
    digest = hashlib.sha256(repr(filters).encode()).hexdigest()[:24]
    return f"customers:list-count:{Customer.objects.visibility_key(user)}:{digest}"


def _filtered_customers(request):
    form = CustomerFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    owner, tag = filters.get("owner"), filters.get("tag")
    customers = selectors.customer_list_for(
        request.user,
        search=filters.get("q", ""),
        owner_id=owner.pk if owner else None,
        stage=filters.get("stage", ""),
        kind=filters.get("kind", ""),
        tag_id=tag.pk if tag else None,
        unassigned=filters.get("unassigned", False),
        value_class=filters.get("value_class", ""),
        risk_level=filters.get("risk", ""),
        dormant=filters.get("dormant"),
        segment=filters.get("segment", ""),
        ordering=filters.get("ordering") or "name",
    )
    return form, customers


class CustomerListView(LoginRequiredMixin, ListView):
    template_name = "customers/customer_list.html"
    context_object_name = "customers"
    paginate_by = PAGE_SIZE

    def get_queryset(self):
        self.filter_form, customers = _filtered_customers(self.request)
        # Only what a row shows, as plain values: the selector's rows carry every column of the
        # customer, both reps (password hashes included) and the score, as model instances.
        return customers.select_related(None).values(*ROW_VALUES)

    def get_paginator(self, queryset, per_page, orphans=0, allow_empty_first_page=True, **kwargs):
        return CachedCountPaginator(
            queryset, per_page, orphans=orphans, allow_empty_first_page=allow_empty_first_page,
            count_key=_count_key(self.request.user, self.filter_form),
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        query = self.request.GET.copy()
        query.pop("page", None)
        context.update(
            filter_form=self.filter_form,
            querystring=query.urlencode(),
            can_export=self.request.user.has_perm("customers.export_customers"),
        )
        return context


class CustomerExportView(LoginRequiredMixin, PermissionRequiredMixin, View):
    """Streams the filtered list as CSV; cells are neutralised against formula injection."""

    permission_required = "customers.export_customers"

    def get(self, request):
        _form, customers = _filtered_customers(request)
        record_audit_event(
            action=AuditAction.EXPORT,
            actor=request.user,
            request=request,
            details={"filters": export_filters(request.GET)},
        )
        header = [
            "id", "external_id", "name", "kind", "email", "phone", "stage", "owner", "backup",
            "last_purchase_at", "created_at",
        ]
        rows = (
            [
                customer.pk,
                customer.external_id or "",
                customer.name,
                customer.kind,
                customer.email,
                customer.phone,
                customer.stage,
                customer.owner.username if customer.owner else "",
                customer.backup.username if customer.backup else "",
                customer.last_purchase_at.isoformat() if customer.last_purchase_at else "",
                customer.created_at.isoformat(),
            ]
            for customer in customers.iterator(chunk_size=2000)
        )
        response = StreamingHttpResponse(stream_rows(header, rows), content_type="text/csv")
        stamp = timezone.localdate().isoformat()
        response["Content-Disposition"] = f'attachment; filename="customers-{stamp}.csv"'
        return response


class CustomerDetailView(LoginRequiredMixin, DetailView):
    template_name = "customers/customer_detail.html"
    context_object_name = "customer"

    def get_object(self, queryset=None):
        return selectors.customer_for(self.request.user, self.kwargs["pk"])

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        customer = self.object
        user = self.request.user
        summary, monthly = selectors.purchase_history_of(customer)
        page = CountedPaginator(
            selectors.purchases_of(customer), PURCHASES_PER_PAGE, count=summary.count
        ).get_page(self.request.GET.get("page"))
        context.update(
            tags=selectors.tag_names_of(customer),
            score=selectors.score_of(customer),
            score_history=selectors.score_history_of(customer),
            summary=summary,
            purchases=page,
            purchase_chart={
                "labels": [row["month"].strftime("%Y-%m") for row in monthly],
                "count": [row["count"] for row in monthly],
                "total": [str(row["total"]) for row in monthly],
            },
            purchase_chart_labels={"count": _("Purchases"), "total": _("Revenue")},
            can_edit=user.has_perm("customers.change_customer"),
            can_add_purchase=user.has_perm("customers.add_purchase"),
            can_reassign=user.has_perm("customers.reassign_customers"),
            can_schedule=user.has_perm("contacts.add_touch"),
        )
        return context


class CustomerCreateView(LoginRequiredMixin, PermissionRequiredMixin, FormView):
    permission_required = "customers.add_customer"
    template_name = "customers/customer_form.html"
    form_class = CustomerForm

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["can_reassign"] = self.request.user.has_perm("customers.reassign_customers")
        return kwargs

    def form_valid(self, form):
        data = dict(form.cleaned_data)
        tags = data.pop("tags", None)
        if "owner" not in data:
            # A rep creating a customer covers it themselves.
            data["owner"] = self.request.user
        customer = services.create_customer(data=data, tags=tags)
        messages.success(self.request, _("Customer %(name)s created.") % {"name": customer.name})
        return HttpResponseRedirect(customer.get_absolute_url())


class CustomerUpdateView(LoginRequiredMixin, PermissionRequiredMixin, FormView):
    permission_required = "customers.change_customer"
    template_name = "customers/customer_form.html"
    form_class = CustomerForm

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            self.customer = selectors.customer_for(request.user, kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["instance"] = self.customer
        kwargs["can_reassign"] = self.request.user.has_perm("customers.reassign_customers")
        return kwargs

    def get_context_data(self, **kwargs):
        return super().get_context_data(customer=self.customer, **kwargs)

    def form_valid(self, form):
        data = dict(form.cleaned_data)
        tags = data.pop("tags", None)
        services.update_customer(customer=self.customer, data=data, tags=tags)
        messages.success(self.request, _("Changes saved."))
        return HttpResponseRedirect(self.customer.get_absolute_url())


class PurchaseCreateView(LoginRequiredMixin, PermissionRequiredMixin, FormView):
    permission_required = "customers.add_purchase"
    template_name = "customers/purchase_form.html"
    form_class = PurchaseForm

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            self.customer = selectors.customer_for(request.user, kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)

    def get_initial(self):
        return {
            "occurred_at": timezone.localtime().replace(second=0, microsecond=0),
            "currency": settings.DEFAULT_CURRENCY,
        }

    def get_context_data(self, **kwargs):
        return super().get_context_data(customer=self.customer, **kwargs)

    def form_valid(self, form):
        data = form.cleaned_data
        try:
            _purchase, created = services.record_purchase(
                customer_id=self.customer.pk,
                occurred_at=data["occurred_at"],
                amount=data["amount"],
                currency=data["currency"],
                external_id=data["external_id"] or Purchase.new_external_id(),
                source=Purchase.Source.UI,
            )
        except DomainError as error:
            form.add_error(error.field, error.message)
            return self.form_invalid(form)
        if created:
            messages.success(self.request, _("Purchase recorded."))
        else:
            messages.info(self.request, _("This purchase was already recorded."))
        return redirect(self.customer)


class CustomerReassignView(LoginRequiredMixin, PermissionRequiredMixin, FormView):
    """Hands a rep's accounts (all or some) to another rep in one step."""

    permission_required = "customers.reassign_customers"
    template_name = "customers/reassign.html"
    form_class = ReassignForm

    def get_initial(self):
        return {"from_rep": self.request.GET.get("from_rep")}

    def form_valid(self, form):
        data = form.cleaned_data
        try:
            moved = services.reassign_customers(
                from_rep_id=data["from_rep"].pk if data["from_rep"] else None,
                to_rep_id=data["to_rep"].pk,
                customer_ids=data["customer_ids"],
                by=self.request.user,
            )
        except DomainError as error:
            form.add_error(error.field, error.message)
            return self.form_invalid(form)
        messages.success(
            self.request,
            _("%(count)s accounts moved to %(rep)s.")
            % {"count": moved, "rep": data["to_rep"].get_full_name() or data["to_rep"].username},
        )
        return redirect(f"{reverse('customers:list')}?owner={data['to_rep'].pk}")


def is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


class CustomerActionMixin:
    """An action on the customer page: a small form swapped in place by htmx, or a plain page.

    With htmx the form posts to itself and comes back with its result (a success note, or the
    errors, status 400); the page's panels listen for the `customer-changed` event to refresh.
    Without JavaScript the form is a page of its own and success redirects to the customer.
    Subclasses set `partial_template_name`, `title` and implement `act(form) -> str` (the success
    note), raising DomainError for a refusal.
    """

    template_name = "customers/customer_action.html"
    partial_template_name = ""
    title = ""

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            self.customer = selectors.customer_for(request.user, kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)

    def get_template_names(self) -> list[str]:
        return [self.partial_template_name if is_htmx(self.request) else self.template_name]

    def get_context_data(self, **kwargs):
        kwargs.setdefault("partial_template", self.partial_template_name)
        kwargs.setdefault("title", self.title)
        return super().get_context_data(customer=self.customer, **kwargs)

    def form_valid(self, form):
        try:
            notice = self.act(form)
        except DomainError as error:
            return self.form_refused(form, error)
        if not is_htmx(self.request):
            messages.success(self.request, notice)
            return redirect(self.customer)
        response = self.render_to_response(
            self.get_context_data(form=self.get_form_class()(**self.fresh_form_kwargs()),
                                  notice=notice)
        )
        response["HX-Trigger"] = "customer-changed"
        return response

    def fresh_form_kwargs(self) -> dict:
        """Keyword arguments of an unbound form shown again after a success."""
        kwargs = self.get_form_kwargs()
        kwargs.pop("data", None)
        kwargs.pop("files", None)
        return kwargs

    def form_refused(self, form, error: DomainError) -> HttpResponse:
        form.add_error(error.field if error.field in form.fields else None, error.message)
        return self.form_invalid(form)

    def form_invalid(self, form, **context):
        return self.render_to_response(self.get_context_data(form=form, **context), status=400)


class CustomerReassignOneView(
    LoginRequiredMixin, CustomerActionMixin, PermissionRequiredMixin, FormView
):
    """Managers: hand this one account to another rep (recorded in the audit trail)."""

    permission_required = "customers.reassign_customers"
    form_class = CustomerReassignOneForm
    partial_template_name = "customers/_partials/reassign_form.html"

    @property
    def title(self) -> str:
        return _("Reassign %(name)s") % {"name": self.customer.name}

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "customer": self.customer}

    def act(self, form) -> str:
        to_rep = form.cleaned_data["to_rep"]
        moved = services.reassign_customers(
            from_rep_id=self.customer.owner_id,
            to_rep_id=to_rep.pk,
            customer_ids=[self.customer.pk],
            by=self.request.user,
        )
        if not moved:
            raise ReassignmentError(
                _("Someone changed this account's owner meanwhile; reload the page."),
                field="to_rep",
            )
        self.customer.owner = to_rep
        self.customer.owner_id = to_rep.pk
        return _("%(name)s now belongs to %(rep)s.") % {
            "name": self.customer.name,
            "rep": to_rep.get_full_name() or to_rep.username,
        }


class SegmentationView(LoginRequiredMixin, PermissionRequiredMixin, TemplateView):
    """The model behind the segments: fitted parameters, the rule in force and the last backtest."""

    permission_required = "customers.view_all_customers"
    template_name = "customers/segmentation.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            run=selectors.latest_scoring_run(),
            backtest_run=selectors.latest_backtest_run(),
            config=ScoringSettings.load(),
            matrix=selectors.value_risk_matrix_for(self.request.user),
        )
        return context
