"""Score and scoring-run rows for API tests (the scoring engine's own tests build real ones)."""

from datetime import date

from django.utils import timezone

from customers.models import CustomerScore, ScoringRun


def score_for(customer, **fields) -> CustomerScore:
    values = {
        "as_of": date(2025, 3, 1),
        "method": CustomerScore.Method.MODEL,
        "risk_level": "low",
        "value_class": "C",
        "rfm_segment": "loyal",
    }
    values.update(fields)
    return CustomerScore.objects.create(customer=customer, **values)


def finished_run(**fields) -> ScoringRun:
    values = {
        "as_of": date(2025, 3, 1),
        "method": "model",
        "dormant_rule": "model",
        "finished_at": timezone.now(),
        "summary": {"concentration": {"top1_share": 0.25, "top10_share": 0.6, "herfindahl": 0.1}},
    }
    values.update(fields)
    return ScoringRun.objects.create(**values)
