"""Scores the whole customer base: value, risk, dormant flag, RFM segment."""

import json
import time
from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from customers import analytics, scoring
from customers.models import ScoringRun


def _parse_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"not a date (YYYY-MM-DD): {value}") from None


class Command(BaseCommand):
    help = (
        "Scores every customer as of a date (purchases after it are ignored). With "
        "--backtest-until, also checks the dormant flag against what really happened."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--as-of", type=_parse_date, help="YYYY-MM-DD; default today")
        parser.add_argument("--backtest-until", type=_parse_date, help="YYYY-MM-DD, after --as-of")
        parser.add_argument(
            "--adopt", action="store_true",
            help="put the backtest's verdict in force (threshold, or the fixed rule if it won)",
        )
        parser.add_argument("--chunk-size", type=int, default=None, help="customers per chunk")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, **options) -> None:
        as_of = options["as_of"] or timezone.localdate()
        until = options["backtest_until"]
        if until is not None and until <= as_of:
            raise CommandError("--backtest-until must be after --as-of")
        started = time.monotonic()
        run = scoring.score_customers(as_of=as_of, chunk_size=options["chunk_size"])
        analytics.refresh_base_metrics(as_of=as_of, purchase_days=run._purchases)
        result = None
        if until is not None:
            result = scoring.backtest(as_of=as_of, until=until)
            ScoringRun.objects.filter(pk=run.pk).update(backtest=result, backtest_until=until)
            if options["adopt"]:
                scoring.adopt_backtest(result=result)
        seconds = round(time.monotonic() - started, 3)
        payload = scoring.run_report(run, backtest=result, seconds=seconds)
        if options["json"]:
            self.stdout.write(json.dumps(payload, ensure_ascii=False))
            return
        self._print(payload)

    def _print(self, payload: dict) -> None:
        out = self.stdout
        out.write(f"Scored {payload['customers']} customers as of {payload['as_of']} "
                  f"in {payload['seconds']} s ({payload['method']}).")
        if payload["bgnbd"]:
            b = payload["bgnbd"]
            out.write(f"BG/NBD: r={b['r']:.4g} alpha={b['alpha']:.4g} a={b['a']:.4g} "
                      f"b={b['b']:.4g} log-likelihood={b['log_likelihood']:.1f}")
        else:
            out.write(f"No model fit: {payload['fallback_reason']}")
        if payload["gamma_gamma"]:
            g = payload["gamma_gamma"]
            out.write(f"Gamma-Gamma: p={g['p']:.4g} q={g['q']:.4g} gamma={g['gamma']:.4g}")
        out.write("Value x risk (customers):")
        out.write(f"  {'':>4} {'low':>8} {'medium':>8} {'high':>8}")
        for value_class in ("A", "B", "C", "-"):
            row = payload["counts"].get(value_class, {})
            out.write(f"  {value_class:>4} " + " ".join(
                f"{row.get(level, 0):>8}" for level in ("low", "medium", "high")))
        out.write(f"Dormant: {payload['dormant']} (rule: {payload['dormant_rule']})")
        if payload.get("backtest"):
            bt = payload["backtest"]
            rule = bt["fixed_rule"]
            out.write(f"Backtest {bt['as_of']}..{bt['until']} on {bt['eligible']} regular "
                      f"customers, {bt['inactive_in_window']} of them bought nothing:")
            if "dormant_flag" in bt:
                flag = bt["dormant_flag"]
                out.write(f"  dormant flag: precision {flag['precision']} recall {flag['recall']} "
                          f"F1 {flag['f1']} (threshold {flag['threshold']})")
                best = bt["best_threshold"]
                out.write(f"  best threshold {best['threshold']}: F1 {best['f1']}")
                out.write(f"  ROC AUC of the risk score: {bt['roc_auc']}")
                out.write(f"  purchase days predicted {bt['predicted_purchase_days']}, "
                          f"actual {bt['actual_purchase_days']}")
            out.write(f"  best fixed rule: no purchase in {rule['days']} days, F1 {rule['f1']}")
            out.write("  verdict: " + ("the model wins" if bt["model_wins"] else
                                       "the fixed rule is at least as good"))
