"""Building blocks shared by the services: account locks, tier lookup, qualifying spend, writes.

Not part of the public interface; use the functions exported by `loyalty.services`.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal

from django.db import connection

from loyalty.models import LedgerEntry, LoyaltyAccount, Programme, Tier, TierChange
from loyalty.periods import add_months
from loyalty.rules import CHUNK, Tiers, chunked, load_tiers, qualifying_spend, reversal_share
from loyalty.signals import tier_changed
from loyalty.sql import insert_rows, is_postgresql, one_of

# Rows per UPDATE ... CASE statement (tier moves only, which are few). Each row is matched against
# every WHEN of its statement, so the cost grows with the square of this number.
UPDATE_BATCH = 500
# Accounts per UPDATE ... FROM (VALUES ...). On SQLite three parameters each must stay under 999,
# the lowest variable limit a build may have; PostgreSQL takes a whole 5,000-id chunk at once.
SQLITE_VALUES_BATCH = 330
# Rows per INSERT; SQLite's variable limit allows about 2,000 rows of a dozen columns.
INSERT_BATCH = 1_000


def lock_accounts(
    customer_ids: Iterable[int],
    *,
    programme: Programme,
    tiers: Tiers,
    now: datetime,
    fields: Sequence[str] = (),
) -> dict[int, LoyaltyAccount]:
    """Row-locks (and first creates, in the entry tier) the accounts of these customers.

    Every service that writes entries holds these locks while it reads what is already in the
    ledger and decides, so two transactions never both act on the same stale state. Locks are
    taken in id order, so two batches touching the same customers cannot deadlock. `fields`
    limits the columns read (the rows are locked all the same).
    """
    ids = sorted(set(customer_ids))
    locked = LoyaltyAccount.objects.select_for_update().order_by("pk")
    if fields:
        locked = locked.only(*fields)
    accounts = {
        account.customer_id: account for account in locked.filter(one_of("customer_id", ids))
    }
    missing = [customer_id for customer_id in ids if customer_id not in accounts]
    if missing:
        entry_tier = tiers.for_spend(Decimal(0))
        insert_rows(
            LoyaltyAccount,
            [
                LoyaltyAccount(
                    customer_id=customer_id,
                    tier=entry_tier,
                    tier_since=now if entry_tier else None,
                    tier_valid_until=add_months(now, programme.tier_window_months)
                    if entry_tier
                    else None,
                    created_at=now,
                    updated_at=now,
                )
                for customer_id in missing
            ],
            batch_size=INSERT_BATCH,
            # A concurrent transaction may create the same account; its row then simply exists.
            ignore_conflicts=True,
        )
        accounts.update(
            (account.customer_id, account)
            for account in locked.filter(one_of("customer_id", missing))
        )
    return accounts


def existing_keys(keys: Iterable[str]) -> set[str]:
    keys = list(keys)
    found: set[str] = set()
    for part in chunked(keys):
        found.update(LedgerEntry.objects.filter(key__in=part).values_list("key", flat=True))
    return found


def update_accounts(changes: dict[int, tuple[int, Decimal | None]], *, now: datetime) -> None:
    """Moves balances by deltas and sets qualifying spends, for many accounts in a few statements.

    `changes` maps customer id -> (balance delta, new qualifying spend or None to keep it). One
    UPDATE ... FROM (VALUES ...) per chunk of accounts: a join, linear in the rows, where
    Django's bulk_update builds a CASE that every row is matched against (quadratic, and slow to
    build in Python: 5,000 accounts took seconds). The balance moves relative to its stored value,
    so the update is right whatever was read earlier.
    """
    rows = sorted(changes.items())
    table = connection.ops.quote_name(LoyaltyAccount._meta.db_table)
    if rows and is_postgresql():
        # One statement, three array parameters, whatever the number of accounts.
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET balance = {table}.balance + changes.delta, "  # noqa: S608 - only the table name is interpolated
                f"qualifying_spend = COALESCE(changes.spend, {table}.qualifying_spend), "
                f"updated_at = %s "
                f"FROM unnest(%s::bigint[], %s::integer[], %s::numeric[]) "
                f"AS changes (customer_id, delta, spend) "
                f"WHERE {table}.customer_id = changes.customer_id",
                [
                    now,
                    [customer_id for customer_id, _change in rows],
                    [delta for _customer, (delta, _spend) in rows],
                    [spend for _customer, (_delta, spend) in rows],
                ],
            )
        return
    moment = connection.ops.adapt_datetimefield_value(now)
    batch = SQLITE_VALUES_BATCH if connection.vendor == "sqlite" else CHUNK
    for part in chunked(rows, batch):
        values = ", ".join(
            ["(CAST(%s AS BIGINT), CAST(%s AS INTEGER), CAST(%s AS NUMERIC))"] * len(part)
        )
        params: list = []
        for customer_id, (delta, spend) in part:
            params += [customer_id, delta, connection.ops.adapt_decimalfield_value(spend)]
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH changes (customer_id, delta, spend) AS (VALUES {values}) "  # noqa: S608 - only placeholders are interpolated
                f"UPDATE {table} SET balance = {table}.balance + changes.delta, "
                f"qualifying_spend = COALESCE(changes.spend, {table}.qualifying_spend), updated_at = %s "
                f"FROM changes WHERE {table}.customer_id = changes.customer_id",
                [*params, moment],
            )


def write_entries(
    entries: list[LedgerEntry],
    accounts: dict[int, LoyaltyAccount],
    *,
    now: datetime,
    spends: dict[int, Decimal] | None = None,
) -> None:
    """Inserts the entries and moves each locked account's balance by their sum, in bulk.

    Keys were filtered under the account locks, so a plain insert is used on purpose: a duplicate
    key here would be a bug, and it fails the transaction instead of leaving a balance that no
    longer equals its entries. `spends` are qualifying spends to store where they changed.
    """
    if entries:
        insert_rows(LedgerEntry, entries, batch_size=INSERT_BATCH)
    deltas: dict[int, int] = defaultdict(int)
    for entry in entries:
        deltas[entry.customer_id] += entry.points
    changes: dict[int, tuple[int, Decimal | None]] = {}
    for customer_id, account in accounts.items():
        spend = (spends or {}).get(customer_id)
        if spend is not None and spend == account.qualifying_spend:
            spend = None
        if deltas.get(customer_id) or spend is not None:
            changes[customer_id] = (deltas.get(customer_id, 0), spend)
    update_accounts(changes, now=now)


def move_tier(
    account: LoyaltyAccount,
    *,
    to: Tier | None,
    spend: Decimal,
    tiers: Tiers,
    programme: Programme,
    now: datetime,
) -> TierChange:
    """Puts the account in tier `to` for (at least) one tier window and returns the record of it."""
    before = tiers.get(account.tier_id)
    direction = (
        TierChange.Direction.UP
        if tiers.rank(to.pk if to else None) > tiers.rank(account.tier_id)
        else TierChange.Direction.DOWN
    )
    change = TierChange(
        customer_id=account.customer_id,
        direction=direction,
        from_tier=before,
        to_tier=to,
        from_name=before.name if before else "",
        to_name=to.name if to else "",
        qualifying_spend=spend,
        created_at=now,
    )
    account.tier = to
    account.tier_since = now
    account.tier_valid_until = add_months(now, programme.tier_window_months)
    tier_changed.send(
        sender=TierChange, customer_id=change.customer_id, from_tier_id=change.from_tier_id,
        to_tier_id=change.to_tier_id, direction=direction, qualifying_spend=spend, at=now,
    )
    return change


def apply_upgrades(
    accounts: dict[int, LoyaltyAccount],
    *,
    programme: Programme,
    tiers: Tiers,
    now: datetime,
) -> dict[int, Decimal]:
    """Upgrades, at once, the accounts whose rolling spend reached a higher tier.

    Returns every account's qualifying spend for the caller to store (see `write_entries`); the
    upgrades and their TierChange rows are written here. Downgrades never happen here, only in
    `reevaluate_tiers`.
    """
    spend = qualifying_spend(accounts, programme=programme, as_of=now)
    upgraded, changes = [], []
    for customer_id, account in accounts.items():
        target = tiers.for_spend(spend[customer_id])
        if target is not None and tiers.rank(target.pk) > tiers.rank(account.tier_id):
            changes.append(
                move_tier(
                    account,
                    to=target,
                    spend=spend[customer_id],
                    tiers=tiers,
                    programme=programme,
                    now=now,
                )
            )
            upgraded.append(account)
    if upgraded:
        LoyaltyAccount.objects.bulk_update(
            upgraded, ["tier", "tier_since", "tier_valid_until"], batch_size=UPDATE_BATCH
        )
        TierChange.objects.bulk_create(changes, batch_size=INSERT_BATCH)
    return spend


__all__ = [
    "INSERT_BATCH",
    "UPDATE_BATCH",
    "Tiers",
    "apply_upgrades",
    "chunked",
    "existing_keys",
    "load_tiers",
    "lock_accounts",
    "move_tier",
    "qualifying_spend",
    "reversal_share",
    "update_accounts",
    "write_entries",
]
