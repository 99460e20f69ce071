"""The managers' dashboard: the page they open every morning.

It composes the apps' selectors; every figure is precomputed (scores, monthly metrics, cohorts) or a
bounded aggregate, so the page costs the same number of queries whatever the size of the base.
"""

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import TypeVar

from django import forms
from django.contrib.auth.mixins import LoginRequiredMixin, PermissionRequiredMixin
from django.db.models import Count, Exists, IntegerField, OuterRef, Q, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.generic import TemplateView

from common.caching import kept
from common.models import JobRun
from contacts import conf as contact_conf
from contacts import selectors as contact_selectors
from contacts.models import Kind, Touch
from customers import selectors as customer_selectors
from customers.models import Customer, ScoringSettings
from loyalty import selectors as loyalty_selectors
from loyalty.models import LoyaltyAccount, Programme

T = TypeVar("T")

# Figures that only a scoring run changes are kept this long under that run's key; a new run has
# a new key, so nothing is ever served from an older run's scores.
SCORE_FIGURES_SECONDS = 26 * 3600
# The rep table scans the period's purchases, contacts and call lists of every rep: seconds on a
# large base. Managers read it a few times a day, so it is computed at most every ten minutes and
# says when it was.
REP_TABLE_SECONDS = 10 * 60
# Key accounts without a recent personal contact: an anti-join over the whole base's key accounts
# and touches (about 60 ms of PostgreSQL on 100k customers). The card is a headline figure kept
# five minutes; the key accounts page it links to is always current.
OVERDUE_CARD_SECONDS = 5 * 60
# Revenue concentration: the share of the top customer and of the top ten.
TOP_CUSTOMERS = 10

PERIODS = [
    (1, _("Last month")),
    (3, _("Last 3 months")),
    (6, _("Last 6 months")),
    (12, _("Last 12 months")),
]


class DashboardFilterForm(forms.Form):
    rep = forms.TypedChoiceField(label=_("Rep"), coerce=int, required=False, empty_value=None)
    period = forms.TypedChoiceField(
        label=_("Period"), choices=PERIODS, coerce=int, required=False, empty_value=3
    )

    def __init__(self, *args, reps: list, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["rep"].choices = [("", _("All reps"))] + [
            (rep.pk, rep.get_full_name() or rep.username) for rep in reps
        ]


def _trend_chart(trend, moves) -> dict:
    labels = [row.month.strftime("%Y-%m") for row in trend]
    return {
        "labels": labels,
        "crr": [
            round(row.retention_rate * 100, 1) if row.retention_rate is not None else None
            for row in trend
        ],
        "active": [row.active_end for row in trend],
        "new": [row.new_customers for row in trend],
        "dormant": [moves.get(label, {}).get("dormant", 0) for label in labels],
        "at_risk": [moves.get(label, {}).get("risk", 0) for label in labels],
        "revenue": [float(row.revenue) for row in trend],
    }


class DashboardView(LoginRequiredMixin, PermissionRequiredMixin, TemplateView):
    permission_required = "customers.view_all_customers"
    template_name = "dashboard.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        reps = customer_selectors.active_reps()
        form = DashboardFilterForm(self.request.GET or None, reps=reps)
        data = form.cleaned_data if form.is_valid() else {}
        owner_id = data.get("rep")
        rep = next((candidate for candidate in reps if candidate.pk == owner_id), None)
        period = data.get("period") or 3
        trend = customer_selectors.monthly_trend(owner_id=owner_id)
        moves = customer_selectors.transitions_by_month(owner_id=owner_id)
        run, backtest_run = customer_selectors.latest_runs()
        user = self.request.user
        if owner_id is None:
            cards = per_scoring_run("cards", run, customer_selectors.score_cards_for)
            matrix = per_scoring_run(
                "matrix", run, lambda: customer_selectors.value_risk_matrix_for(user)
            )
            concentration = (run.summary or {}).get("concentration") if run else None
        else:
            figures = customer_selectors.rep_score_figures(owner_id=owner_id, top=TOP_CUSTOMERS)
            cards, matrix = figures.cards, figures.matrix
            concentration = concentration_of(figures.top_revenues, cards.revenue_12m)
        context.update(
            filter_form=form,
            rep=rep,
            period=period,
            retention=customer_selectors.retention_over(trend, months=period),
            current=trend[-1] if trend else None,
            cards=cards,
            concentration=concentration,
            matrix=matrix,
            cohorts=customer_selectors.cohort_matrix(owner_id=owner_id),
            chart=_trend_chart(trend[-12:], moves),
            chart_labels={
                "crr": str(_("Retention rate, %")),
                "active": str(_("Active customers")),
                "new": str(_("New customers")),
                "dormant": str(_("Turned dormant")),
                "at_risk": str(_("Moved into high risk")),
            },
            overdue_key_accounts=kept_overdue_key_accounts(self.request.user, owner_id=owner_id),
            run=run,
            backtest_run=backtest_run,
            scoring_config=ScoringSettings.load(),
            owner_query=f"&owner={owner_id}" if owner_id else "",
        )
        return context


class DashboardPanelView(LoginRequiredMixin, PermissionRequiredMixin, TemplateView):
    """A lazily loaded (htmx) part of the dashboard, so the first paint stays cheap."""

    permission_required = "customers.view_all_customers"

    def filters(self) -> tuple[list, int | None, int]:
        reps = customer_selectors.active_reps()
        form = DashboardFilterForm(self.request.GET or None, reps=reps)
        data = form.cleaned_data if form.is_valid() else {}
        return reps, data.get("rep"), data.get("period") or 3


class DashboardRepsView(DashboardPanelView):
    """The rep table: coverage, contacts planned vs made, key accounts overdue, win-backs."""

    template_name = "dashboard/_reps.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        reps, _owner_id, period = self.filters()
        end = timezone.localdate()
        start = first_of_month_back(end, period - 1)
        key = f"dashboard:reps:{start}:{end}:{','.join(str(rep.pk) for rep in reps)}"

        def compute() -> dict:
            performance = {
                row.rep.pk: row for row in contact_selectors.rep_performance(start=start, end=end)
            }
            return {
                "rows": [
                    (coverage, performance.get(coverage.rep.pk))
                    for coverage in customer_selectors.rep_coverage(reps=reps)
                ],
                "computed_at": timezone.now(),
            }

        figures = kept(key, REP_TABLE_SECONDS, compute)
        context.update(**figures, start=start, end=end, period=period)
        return context


class DashboardActivityView(DashboardPanelView):
    """Feedback (score trend and latest low scores) and the last nightly runs."""

    template_name = "dashboard/_activity.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        _reps, owner_id, _period = self.filters()
        trend = contact_selectors.feedback_trend(owner_id=owner_id)
        context.update(
            feedback_trend=trend,
            feedback_chart={
                "labels": [row.month.strftime("%Y-%m") for row in trend],
                "average": [
                    round(row.average, 2) if row.average is not None else None for row in trend
                ],
                "nps": [round(row.nps, 1) if row.nps is not None else None for row in trend],
            },
            low_scores=contact_selectors.latest_low_scores(owner_id=owner_id),
            job_runs=list(JobRun.objects.order_by("-run_date", "job")[:10]),
        )
        return context


class DashboardLiabilityView(DashboardPanelView):
    """The outstanding points liability: spendable and pending points, and their worth."""

    template_name = "dashboard/_liability.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        _reps, owner_id, _period = self.filters()
        context.update(liability=liability_for(owner_id=owner_id), owner_id=owner_id)
        return context


def per_scoring_run(name: str, run, compute: Callable[[], T]) -> T:
    """`compute()` once per finished scoring run, from the cache after that.

    Scores change only when a scoring run writes them, so the whole base's score aggregates
    (the cards and the value x risk matrix, seen alike by everyone allowed on the dashboard) are
    keyed by the latest finished run. (One rep's figures depend on who owns which account, which
    changes any time, so they are read on every request: rep_score_figures.) The database stays
    the source of truth: a lost cache only costs time.
    """
    if run is None:
        return compute()
    key = f"dashboard:{name}:run:{run.pk}:{run.finished_at.timestamp():.0f}"
    return kept(key, SCORE_FIGURES_SECONDS, compute)


def liability_for(*, owner_id: int | None = None) -> loyalty_selectors.Liability:
    """Points owed to the customers of the whole base (loyalty's own report) or of one rep's
    accounts: the same figures, restricted to that rep's customers (four queries)."""
    if owner_id is None:
        return loyalty_selectors.points_liability()
    programme = Programme.load()
    totals = LoyaltyAccount.objects.filter(customer__owner_id=owner_id).aggregate(
        points=Coalesce(Sum("balance"), Value(0), output_field=IntegerField()),
        holders=Count("pk", filter=Q(balance__gt=0)),
    )
    # Pending points are few (only purchases inside the return window): take the whole base's
    # and keep the rep's customers, rather than sending every account id of the rep.
    pending_by_customer = loyalty_selectors.pending_points_by_customer()
    owned = Customer.objects.filter(owner_id=owner_id, pk__in=list(pending_by_customer))
    pending = sum(pending_by_customer[pk] for pk in owned.values_list("pk", flat=True))
    money = Decimal("0.01")
    return loyalty_selectors.Liability(
        points=totals["points"],
        pending_points=pending,
        holders=totals["holders"],
        value=(Decimal(totals["points"]) * programme.point_value).quantize(money),
        pending_value=(Decimal(pending) * programme.point_value).quantize(money),
        point_value=programme.point_value,
        currency=programme.currency,
    )


def concentration_of(top_revenues: list[Decimal], total: Decimal) -> dict | None:
    """Top-1 and top-10 shares of 12-month revenue, as the scoring run reports them."""
    if not total:
        return None
    return {
        "top1_share": float(top_revenues[0] / total) if top_revenues else 0.0,
        "top10_share": float(sum(top_revenues) / total),
    }


def kept_overdue_key_accounts(user, *, owner_id: int | None = None) -> int:
    """`overdue_key_accounts_for`, as the dashboard's card shows it: kept OVERDUE_CARD_SECONDS."""
    key = (
        f"dashboard:overdue:{Customer.objects.visibility_key(user)}:"
        f"{owner_id if owner_id is not None else 'all'}:{contact_conf.key_account_days()}"
    )
    return kept(key, OVERDUE_CARD_SECONDS, lambda: overdue_key_accounts_for(user, owner_id=owner_id))


def overdue_key_accounts_for(user, *, owner_id: int | None = None) -> int:
    """Key accounts without a personal contact for too long, of the base or of one rep.

    The same accounts as contacts' overdue_key_accounts (no personal contact made since the
    cutoff), counted with one anti-join instead of a latest-contact subquery per key account.
    """
    cutoff = timezone.now() - timedelta(days=contact_conf.key_account_days())
    recent = Touch.objects.filter(
        customer=OuterRef("pk"), kind=Kind.PERSONAL, status=Touch.Status.DONE, at__gte=cutoff
    )
    customers = Customer.objects.visible_to(user)
    if owner_id is not None:
        customers = customers.filter(owner_id=owner_id)
    return customers.filter(contact_selectors.key_account_q()).filter(~Exists(recent)).count()


def first_of_month_back(day: date, months: int) -> date:
    """The first day of the month `months` calendar months before `day`'s month."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    return date(year, month + 1, 1)
