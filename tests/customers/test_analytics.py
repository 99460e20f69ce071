from datetime import date

import numpy as np
import pandas as pd
import pytest

from customers import analytics
from customers.models import CohortCell, MonthlyMetric
from tests.customers.test_scoring import buy
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def month(year: int, month_number: int) -> int:
    return (year - 1970) * 12 + month_number - 1


def frame(rows):
    return pd.DataFrame(rows, columns=["customer_id", "month", "cents"])


def test_crr_counts_start_end_and_new_customers():
    rows = [
        (1, month(2025, 3), 100),   # active through Feb 2026, so leaves during March 2026
        (2, month(2025, 12), 100),  # active all of 2026's first quarter
        (2, month(2026, 3), 100),
        (3, month(2026, 3), 100),   # new in March 2026
    ]
    result = analytics.monthly_metrics(frame(rows), first_month=month(2026, 3),
                                       last_month=month(2026, 3)).iloc[0]
    assert result["active_start"] == 2  # customers 1 and 2 at the end of February
    assert result["active_end"] == 2    # customers 2 and 3
    assert result["new"] == 1
    crr = (result["active_end"] - result["new"]) / result["active_start"]
    assert crr == pytest.approx(0.5)    # one of the two customers at the start stayed
    assert result["buyers"] == 2
    assert result["cents"] == 200


def test_active_window_is_twelve_months_and_later_purchases_extend_it():
    rows = [(1, month(2025, 1), 1), (1, month(2025, 6), 1)]
    result = analytics.monthly_metrics(frame(rows), first_month=month(2025, 1),
                                       last_month=month(2026, 6))
    active = dict(zip(result["month"], result["active_end"], strict=True))
    assert active[month(2025, 1)] == 1
    assert active[month(2026, 5)] == 1   # June 2025 + 11 months
    assert active[month(2026, 6)] == 0


def test_cohorts_count_customers_buying_again():
    rows = [(1, month(2026, 1), 1), (1, month(2026, 3), 1), (2, month(2026, 1), 1),
            (3, month(2026, 2), 1), (3, month(2026, 3), 1)]
    cells = analytics.cohort_cells(frame(rows), first_month=month(2026, 1),
                                   last_month=month(2026, 3))
    table = {(c.cohort, c.months_since): (c.cohort_size, c.active) for c in cells.itertuples()}
    assert table[(month(2026, 1), 0)] == (2, 2)
    assert table[(month(2026, 1), 2)] == (2, 1)
    assert table[(month(2026, 2), 1)] == (1, 1)
    assert (month(2026, 1), 1) not in table


def test_refresh_writes_rows_for_the_base_and_each_rep_and_is_idempotent(rep, other_rep):
    mine = CustomerFactory(owner=rep)
    theirs = CustomerFactory(owner=other_rep)
    buy(mine, date(2026, 1, 15), "10.00")
    buy(mine, date(2026, 2, 15), "20.00")
    buy(theirs, date(2026, 2, 20), "5.00")
    analytics.refresh_base_metrics(as_of=date(2026, 2, 28))
    count = MonthlyMetric.objects.count()
    analytics.refresh_base_metrics(as_of=date(2026, 2, 28))
    assert MonthlyMetric.objects.count() == count == 3 * analytics.HISTORY_MONTHS
    february = MonthlyMetric.objects.get(scope="all", month=date(2026, 2, 1))
    assert february.active_start == 1
    assert february.active_end == 2
    assert february.new_customers == 1
    assert february.retention_rate == pytest.approx(1.0)
    assert str(february.revenue) == "25.00"
    rep_february = MonthlyMetric.objects.get(scope=f"rep:{rep.pk}", month=date(2026, 2, 1))
    assert rep_february.buyers == 1
    assert CohortCell.objects.filter(scope="all", cohort=date(2026, 1, 1)).count() == 2


def test_empty_base_gives_zero_rows_not_errors():
    analytics.refresh_base_metrics(as_of=date(2026, 2, 28))
    assert MonthlyMetric.objects.filter(scope="all").count() == analytics.HISTORY_MONTHS
    assert not CohortCell.objects.exists()
    assert np.all(np.array(MonthlyMetric.objects.values_list("active_end", flat=True)) == 0)


def test_each_purchase_counts_for_its_customers_rep_and_a_rep_without_sales_gets_zeros(
    rep, other_rep
):
    unowned = CustomerFactory(owner=None)
    CustomerFactory(owner=other_rep)  # other_rep's only customer never bought
    mine = [CustomerFactory(owner=rep) for _ in range(3)]
    for day, customer in enumerate([*mine, unowned], start=1):
        buy(customer, date(2026, 2, day), "7.00")
    analytics.refresh_base_metrics(as_of=date(2026, 2, 28))
    february = {
        row.scope: row for row in MonthlyMetric.objects.filter(month=date(2026, 2, 1))
    }
    assert february["all"].buyers == 4
    assert february[f"rep:{rep.pk}"].buyers == 3
    assert str(february[f"rep:{rep.pk}"].revenue) == "21.00"
    assert february[f"rep:{other_rep.pk}"].buyers == 0
    assert MonthlyMetric.objects.filter(scope=f"rep:{other_rep.pk}").count() == (
        analytics.HISTORY_MONTHS
    )


def test_purchases_handed_over_by_a_scoring_run_give_the_same_metrics_as_reading_them(rep):
    from customers import scoring

    for index in range(6):
        customer = CustomerFactory(owner=rep if index % 2 else None)
        for month_number in range(1, index + 2):
            buy(customer, date(2026, month_number, 10 + index), f"{index + 3}.50")
    as_of = date(2026, 6, 30)
    run = scoring.score_customers(as_of=as_of)

    def snapshot():
        metrics = MonthlyMetric.objects.values_list(
            "scope", "month", "active_start", "active_end", "new_customers", "buyers",
            "purchases", "revenue",
        )
        cells = CohortCell.objects.values_list("scope", "cohort", "months_since", "cohort_size",
                                               "active")
        return sorted(metrics), sorted(cells)

    analytics.refresh_base_metrics(as_of=as_of, purchase_days=run._purchases)
    handed_over = snapshot()
    analytics.refresh_base_metrics(as_of=as_of)
    assert snapshot() == handed_over
    assert len(run._purchases) == 21
    assert sum(row[6] for row in handed_over[0] if row[0] == "all") == 21


def test_the_dashboards_trend_and_cohorts_are_kept_until_the_next_refresh(rep):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from customers import selectors

    mine = CustomerFactory(owner=rep)
    buy(mine, date(2026, 1, 15), "10.00")
    analytics.refresh_base_metrics(as_of=date(2026, 2, 28))
    trend = selectors.monthly_trend()
    cohorts = selectors.cohort_matrix(owner_id=rep.pk)
    with CaptureQueriesContext(connection) as captured:
        assert selectors.monthly_trend() == trend
        assert selectors.cohort_matrix(owner_id=rep.pk) == cohorts
    assert captured.captured_queries == []
    assert trend[-1].revenue == 0

    buy(mine, date(2026, 2, 15), "20.00")
    analytics.refresh_base_metrics(as_of=date(2026, 2, 28))
    assert str(selectors.monthly_trend()[-1].revenue) == "20.00"
    assert selectors.cohort_matrix(owner_id=rep.pk)[-1]["cells"] == [1.0, 1.0]
