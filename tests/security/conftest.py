"""The cast of the security tests: two reps, a manager, a loyalty admin and a superuser, and a
customer of rep B's with a row of every kind that URLs point at (purchase, refund, score, import,
redemption, feedback), so each URL can be tried with objects the caller does not own."""

from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.test import Client
from django.utils import timezone

from common.models import JobRun
from contacts.models import Touch
from contacts.services.feedback import feedback_token
from contacts.services.outbox import unsubscribe_token
from customers.models import ImportJob, ScoringRun
from loyalty.member import member_url
from loyalty.models import LedgerEntry, Partner, Programme, Redemption, Reward, Tier
from tests.contacts.factories import CustomerScoreFactory, FeedbackFactory
from tests.factories import (
    CustomerFactory,
    LoyaltyAdminFactory,
    ManagerFactory,
    PurchaseFactory,
    RefundFactory,
    RepFactory,
    UserFactory,
)

ANONYMOUS = "anonymous"
REP_A = "rep_a"
REP_B = "rep_b"
MANAGER = "manager"
LOYALTY_ADMIN = "loyalty_admin"
SUPERUSER = "superuser"
ROLES = (ANONYMOUS, REP_A, REP_B, MANAGER, LOYALTY_ADMIN, SUPERUSER)


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture(autouse=True)
def _fresh_throttle_counters():
    # Each URL test makes anonymous API calls; counters carried over between tests would reach
    # the anonymous rate and turn the expected 401s into 429s.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def world(db):
    users = {
        REP_A: RepFactory(username="rep_a"),
        REP_B: RepFactory(username="rep_b"),
        MANAGER: ManagerFactory(username="manager"),
        LOYALTY_ADMIN: LoyaltyAdminFactory(username="loyalty_admin", is_staff=True),
        SUPERUSER: UserFactory(username="root", is_superuser=True, is_staff=True),
    }
    customer_b = CustomerFactory(owner=users[REP_B], name="Customer of rep B")
    purchase_b = PurchaseFactory(customer=customer_b)
    import_job = ImportJob.objects.create(
        kind=ImportJob.Kind.PURCHASES,
        file=ContentFile(b"external_id;amount\n", name="purchases.csv"),
        original_name="purchases.csv",
        status=ImportJob.Status.DONE,
        created_by=users[MANAGER],
    )
    import_job.error_report.save("errors.csv", ContentFile(b"line;error\n"), save=True)
    reward = Reward.objects.create(name="Coffee", kind=Reward.Kind.VOUCHER, cost=100)
    feedback = FeedbackFactory(customer=customer_b)
    return SimpleNamespace(
        users=users,
        customer_b=customer_b,
        purchase_b=purchase_b,
        refund_b=RefundFactory(purchase=purchase_b),
        score_b=CustomerScoreFactory(customer=customer_b),
        import_job=import_job,
        scoring_run=ScoringRun.objects.create(
            as_of=timezone.localdate() - timedelta(days=1), method="rule"
        ),
        reward=reward,
        redemption_b=Redemption.objects.create(
            customer=customer_b, reward=reward, points=100, key="security-redemption"
        ),
        partner=Partner.objects.create(name="Hotel partner", earn_rate=Decimal("0.5")),
        tier=Tier.objects.order_by("order").first(),
        programme=Programme.load(),
        touch_b=Touch.objects.create(
            customer=customer_b, channel="phone", kind="personal", at=timezone.now(), source="rep"
        ),
        ledger_entry_b=LedgerEntry.objects.create(
            customer=customer_b, kind=LedgerEntry.Kind.ADJUST, points=5, key="security-entry"
        ),
        job_run=JobRun.objects.create(job="rescore", run_date=timezone.localdate()),
        unsubscribe_token=unsubscribe_token(customer_id=customer_b.pk, channel="email"),
        feedback_token=feedback_token(feedback.pk),
        member_token=member_url(customer_b.pk).rstrip("/").rsplit("/", 1)[-1],
    )


@pytest.fixture
def clients(world) -> dict[str, Client]:
    """One client per role, logged in as that role (the anonymous one is not)."""
    by_role = {ANONYMOUS: Client()}
    for role, user in world.users.items():
        client = Client()
        client.force_login(user)
        by_role[role] = client
    return by_role
