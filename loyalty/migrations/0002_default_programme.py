from decimal import Decimal

from django.conf import settings
from django.db import migrations

# The defaults a new installation starts with; admins change them in the admin.
# One point per 100 RUB, worth 1 RUB: 1% back in the entry tier, 1.25% and 1.5% higher up.
DEFAULT_TIERS = [
    # name, order, qualifying spend over 12 months, earn multiplier, discount percent
    ("Silver", 1, Decimal("0"), Decimal("1.00"), Decimal("0")),
    ("Gold", 2, Decimal("100000"), Decimal("1.25"), Decimal("3")),
    ("Platinum", 3, Decimal("500000"), Decimal("1.50"), Decimal("5")),
]


def create_defaults(apps, schema_editor):
    programme_model = apps.get_model("loyalty", "Programme")
    tier_model = apps.get_model("loyalty", "Tier")
    programme_model.objects.get_or_create(
        pk=1,
        defaults={
            "name": "Loyalty programme",
            "points_per_unit": Decimal("0.01"),
            "rounding": "down",
            "minimum_purchase": Decimal("0"),
            "qualifying_currencies": settings.DEFAULT_CURRENCY,
            "qualifying_sources": "",
            "return_window_days": 0,
            "expiry_months": 24,
            "tier_window_months": 12,
            "downgrade_grace_days": 30,
            "point_value": Decimal("1"),
            "currency": settings.DEFAULT_CURRENCY,
        },
    )
    if not tier_model.objects.exists():
        tier_model.objects.bulk_create(
            [
                tier_model(
                    name=name,
                    order=order,
                    qualifying_spend=spend,
                    earn_multiplier=multiplier,
                    discount_percent=discount,
                )
                for name, order, spend, multiplier, discount in DEFAULT_TIERS
            ]
        )


# On PostgreSQL the database itself refuses to change a ledger entry (deletion stays possible
# only through PROTECT-checked paths and TRUNCATE, which test databases use to reset).
APPEND_ONLY_SQL = """
CREATE OR REPLACE FUNCTION loyalty_ledgerentry_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'loyalty_ledgerentry is append-only: record a reversing entry instead';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER loyalty_ledgerentry_no_update BEFORE UPDATE ON loyalty_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION loyalty_ledgerentry_append_only();
"""
DROP_APPEND_ONLY_SQL = """
DROP TRIGGER IF EXISTS loyalty_ledgerentry_no_update ON loyalty_ledgerentry;
DROP FUNCTION IF EXISTS loyalty_ledgerentry_append_only();
"""


def forbid_updates(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(APPEND_ONLY_SQL)


def allow_updates(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_APPEND_ONLY_SQL)


class Migration(migrations.Migration):
    """The default programme and three tiers; ledger entries made immutable on PostgreSQL."""

    dependencies = [("loyalty", "0001_initial")]

    operations = [
        migrations.RunPython(create_defaults, migrations.RunPython.noop),
        migrations.RunPython(forbid_updates, allow_updates),
    ]
