"""factory_boy factories shared by every app's tests."""

from datetime import timedelta
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from common.roles import ACCOUNT_REP, LOYALTY_ADMIN, SALES_MANAGER
from customers.models import Customer, Purchase, Refund


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password("pass-for-tests-1")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if create and extracted:
            self.groups.add(Group.objects.get(name=extracted))


def _role_factory(name: str, role: str) -> type[UserFactory]:
    """A UserFactory whose users join `role` unless the call names another (role=...)."""

    def add_role(user, create, extracted, **kwargs):
        if create:
            user.groups.add(Group.objects.get(name=extracted or role))

    return type(name, (UserFactory,), {"role": factory.PostGeneration(add_role)})


RepFactory = _role_factory("RepFactory", ACCOUNT_REP)
ManagerFactory = _role_factory("ManagerFactory", SALES_MANAGER)
LoyaltyAdminFactory = _role_factory("LoyaltyAdminFactory", LOYALTY_ADMIN)


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer
        skip_postgeneration_save = True

    name = factory.Faker("company")
    kind = Customer.Kind.COMPANY
    email = factory.Sequence(lambda n: f"customer{n}@example.com")
    phone = factory.Sequence(lambda n: f"+7900{n:07d}")
    external_id = factory.Sequence(lambda n: f"C{n:06d}")
    owner = factory.SubFactory(RepFactory)
    consent_email = True
    consent_sms = True
    created_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=800))


class PurchaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Purchase

    customer = factory.SubFactory(CustomerFactory)
    occurred_at = factory.LazyFunction(timezone.now)
    amount = Decimal("1000.00")
    currency = "RUB"
    external_id = factory.Sequence(lambda n: f"P{n:08d}")
    source = Purchase.Source.UI


class RefundFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Refund

    purchase = factory.SubFactory(PurchaseFactory)
    amount = Decimal("100.00")
    occurred_at = factory.LazyFunction(timezone.now)
    external_id = factory.Sequence(lambda n: f"R{n:08d}")
