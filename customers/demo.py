"""Demo data: a user in every role and a realistic customer base with two years of purchases.

The base is drawn by a purchase process, not typed in, so the product's screens have something true
to find:

* key accounts (about 1.5% of customers, all companies) order large amounts every week or two and
  together bring about a third of the revenue; one of them alone brings 11-14% ("top client = 25% of
  profit"), and one partner among them stopped ordering three to four months ago;
* regular buyers, each with a rhythm of their own (a personal mean gap between purchases, gaps
  gamma-distributed around it) and a personal order size (lognormal noise around it); about a third
  of them go quiet at some point in the last 3-12 months, a few lapsed more than a year ago;
* one-off and occasional buyers (one or two purchases);
* new customers who started in the last five months.

Everything is drawn from one numpy Generator seeded by `seed`, relative to `today`: the same seed
and day give the same rows. Purchases lie on the days before `today` (never in the future), in
business hours of settings.TIME_ZONE. Contact details are fictitious: e-mail addresses use the
reserved example.com domains; phone numbers are random and must not be dialled or texted.
"""

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import check_password, make_password
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import Max, Q, QuerySet, Sum
from django.db.models.deletion import ProtectedError, RestrictedError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from common.roles import ACCOUNT_REP, LOYALTY_ADMIN, SALES_MANAGER, sync_roles

from .errors import DemoIdsTakenError, DemoResetBlockedError
from .models import TAGS, Customer, Purchase, Refund, Tag
from .signals import demo_data_deleting, purchases_recorded, refunds_recorded

logger = logging.getLogger(__name__)

# Printed by seed_demo for every demo account; a real account is never given it (see below).
DEMO_PASSWORD = "retention-demo"  # noqa: S105
# Demo accounts are recognised by this e-mail domain: only they are ever updated by a re-run, so a
# real account that happens to be called "admin" keeps its password.
DEMO_USER_EMAIL_DOMAIN = "demo.retention.example.com"
CUSTOMER_ID_PREFIX = "CUST-"
PURCHASE_ID_PREFIX = "DEMO-P-"
REFUND_ID_PREFIX = "DEMO-R-"
HISTORY_DAYS = 730
MIN_CUSTOMERS = 50
# Rows per INSERT: small enough for SQLite's variable limit, large enough to keep round trips few.
WRITE_BATCH = 2000
# Ids per domain signal: receivers are set-based and this keeps their IN (...) lists moderate.
SIGNAL_BATCH = 5000

ProgressCallback = Callable[[str, int, int], None]

ADMIN_ROLE = "admin"
ROLE_LABELS = {
    ADMIN_ROLE: _("Administrator (superuser)"),
    SALES_MANAGER: _("Sales manager"),
    ACCOUNT_REP: _("Account rep"),
    LOYALTY_ADMIN: _("Loyalty admin"),
}


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role: str
    full_name: str
    # None when the account's password is not the demo one: an account of that name that the demo
    # did not make (left untouched), or a demo account whose password was changed since.
    password: str | None


@dataclass(frozen=True)
class DemoSummary:
    created: bool
    today: date
    users: int
    customers: int
    purchases: int
    refunds: int
    revenue: Decimal
    top_customer_name: str
    top_customer_share: Decimal
    top10_share: Decimal
    silent_regulars: int
    logins: tuple[DemoLogin, ...]


@transaction.atomic
def seed_demo(
    *,
    customers: int = 3000,
    seed: int = 42,
    today: date | None = None,
    reset: bool = False,
    progress: ProgressCallback | None = None,
) -> DemoSummary:
    """Creates the demo users and base once; with `reset`, replaces the demo rows (and only them).

    Without `reset`, an existing demo base is left as it is and nothing is added.
    """
    if customers < MIN_CUSTOMERS:
        raise ValueError(f"The demo base needs at least {MIN_CUSTOMERS} customers.")
    today = today or timezone.localdate()
    if reset:
        delete_demo_data()
    elif demo_data_exists():
        logger.info("demo.skipped reason=exists")
        return summarise_demo(created=False, today=today, logins=_existing_logins())
    if Customer.objects.filter(external_id__startswith=CUSTOMER_ID_PREFIX).exists():
        raise DemoIdsTakenError(
            _("Customers that are not demo data use external ids starting with %(prefix)s.")
            % {"prefix": CUSTOMER_ID_PREFIX}
        )
    report = progress or (lambda stage, done, total: None)
    report("users", 0, 1)
    logins, reps = _ensure_users()
    report("planning", 0, 1)
    plan = _plan_base(customers=customers, seed=seed, today=today)
    _write_base(plan=plan, reps=reps, report=report)
    logger.info(
        "demo.seeded customers=%s purchases=%s refunds=%s seed=%s",
        len(plan.customers),
        len(plan.purchase_days),
        len(plan.refund_rows),
        seed,
    )
    return summarise_demo(created=True, today=today, logins=logins)


def demo_data_exists() -> bool:
    return Purchase.objects.filter(source=Purchase.Source.DEMO).exists()


def demo_customers() -> QuerySet[Customer]:
    """Customers made by the demo: a demo external id and demo purchases.

    Both, so that a real customer whose accounting id happens to start with CUST- is never taken
    for demo data (and never deleted by a reset).
    """
    demo_buyers = Purchase.objects.filter(source=Purchase.Source.DEMO).values("customer_id")
    return Customer.objects.filter(external_id__startswith=CUSTOMER_ID_PREFIX, pk__in=demo_buyers)


@transaction.atomic
def delete_demo_data() -> None:
    """Deletes demo customers, their purchases and refunds, and any demo-sourced rows; keeps the rest.

    Apps holding rows of demo customers (points, calls) remove them on `demo_data_deleting`; rows
    left protecting a demo customer or purchase refuse the reset with DemoResetBlockedError.
    """
    customers = demo_customers()
    customer_ids = list(customers.values_list("pk", flat=True))
    for ids in _chunks(customer_ids, SIGNAL_BATCH):
        demo_data_deleting.send(sender=Customer, customer_ids=ids)
    demo_purchases = Purchase.objects.filter(
        Q(source=Purchase.Source.DEMO) | Q(customer__in=customers.values("pk"))
    )
    try:
        Refund.objects.filter(purchase__in=demo_purchases.values("pk")).delete()
        demo_purchases.delete()
        # By id: with their demo purchases gone, demo_customers() no longer finds them.
        for ids in _chunks(customer_ids, SIGNAL_BATCH):
            Customer.objects.filter(pk__in=ids).delete()
    except (ProtectedError, RestrictedError) as error:
        rows = getattr(error, "protected_objects", None) or error.restricted_objects
        blocking = sorted({str(row._meta.verbose_name_plural) for row in rows})
        raise DemoResetBlockedError(
            _("The demo data cannot be reset while other records refer to it: %(rows)s.")
            % {"rows": ", ".join(blocking)}
        ) from error
    logger.info("demo.deleted customers=%s", len(customer_ids))


def summarise_demo(*, created: bool, today: date, logins: Iterable[DemoLogin]) -> DemoSummary:
    """Counts and revenue concentration of the demo base as stored (revenue net of refunds)."""
    customers = demo_customers()
    purchases = Purchase.objects.filter(customer__in=customers.values("pk"))
    refunds = Refund.objects.filter(purchase__in=purchases.values("pk"))
    net: dict[int, Decimal] = dict(
        purchases.order_by()
        .values("customer_id")
        .annotate(total=Sum("amount"))
        .values_list("customer_id", "total")
    )
    refunded = (
        refunds.order_by()
        .values("purchase__customer_id")
        .annotate(total=Sum("amount"))
        .values_list("purchase__customer_id", "total")
    )
    for customer_id, total in refunded:
        net[customer_id] -= total
    revenue = sum(net.values(), Decimal("0.00"))
    ranked = sorted(net.items(), key=lambda item: item[1], reverse=True)
    top_name = ""
    top_share = top10_share = Decimal("0")
    if ranked and revenue > 0:
        top_name = Customer.objects.get(pk=ranked[0][0]).name
        top_share = (ranked[0][1] / revenue).quantize(Decimal("0.0001"))
        top10 = sum((total for _customer_id, total in ranked[:10]), Decimal("0"))
        top10_share = (top10 / revenue).quantize(Decimal("0.0001"))
    quiet_since = _aware(today - timedelta(days=90))
    silent_regulars = (
        customers.filter(stage=Customer.Stage.REGULAR)
        .annotate(last_purchase=Max("purchases__occurred_at"))
        .filter(last_purchase__lt=quiet_since)
        .count()
    )
    logins = tuple(logins)
    return DemoSummary(
        created=created,
        today=today,
        users=len(logins),
        customers=customers.count(),
        purchases=purchases.count(),
        refunds=refunds.count(),
        revenue=revenue,
        top_customer_name=top_name,
        top_customer_share=top_share,
        top10_share=top10_share,
        silent_regulars=silent_regulars,
        logins=logins,
    )


# --- users ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _UserSpec:
    username: str
    role: str
    first_name: str
    last_name: str


DEMO_USERS = (
    _UserSpec("admin", ADMIN_ROLE, "Сергей", "Орлов"),
    _UserSpec("manager", SALES_MANAGER, "Елена", "Соколова"),
    _UserSpec("manager2", SALES_MANAGER, "James", "Carter"),
    _UserSpec("rep1", ACCOUNT_REP, "Анна", "Иванова"),
    _UserSpec("rep2", ACCOUNT_REP, "Иван", "Петров"),
    _UserSpec("rep3", ACCOUNT_REP, "Ольга", "Смирнова"),
    _UserSpec("rep4", ACCOUNT_REP, "Emily", "Clark"),
    _UserSpec("rep5", ACCOUNT_REP, "Дмитрий", "Волков"),
    _UserSpec("loyalty", LOYALTY_ADMIN, "Наталья", "Морозова"),
)


def _demo_email(username: str) -> str:
    return f"{username}@{DEMO_USER_EMAIL_DOMAIN}"


def _is_demo_account(user) -> bool:
    return user.email.lower().endswith("@" + DEMO_USER_EMAIL_DOMAIN)


def _login(spec: _UserSpec, *, password: str | None) -> DemoLogin:
    return DemoLogin(
        username=spec.username,
        role=str(ROLE_LABELS[spec.role]),
        full_name=f"{spec.first_name} {spec.last_name}",
        password=password,
    )


def _existing_logins() -> list[DemoLogin]:
    users = {
        user.username: user
        for user in get_user_model().objects.filter(
            username__in=[spec.username for spec in DEMO_USERS]
        )
    }
    # Demo accounts share one hash, so each distinct hash is checked once (PBKDF2 is slow).
    still_demo = {
        hashed: check_password(DEMO_PASSWORD, hashed)
        for hashed in {user.password for user in users.values() if _is_demo_account(user)}
    }
    return [
        _login(
            spec, password=DEMO_PASSWORD if still_demo.get(users[spec.username].password) else None
        )
        for spec in DEMO_USERS
        if spec.username in users
    ]


def _role_groups() -> dict[str, Group]:
    names = [SALES_MANAGER, ACCOUNT_REP, LOYALTY_ADMIN]
    groups = {group.name: group for group in Group.objects.filter(name__in=names)}
    if len(groups) < len(names):
        # Groups come from a data migration; a database migrated without it still gets the roles.
        sync_roles()
        groups = {group.name: group for group in Group.objects.filter(name__in=names)}
    return groups


def _ensure_users() -> tuple[list[DemoLogin], list]:
    """Creates or refreshes the demo accounts; returns their logins and the reps, in order."""
    user_model = get_user_model()
    existing = {
        user.username: user
        for user in user_model.objects.filter(username__in=[spec.username for spec in DEMO_USERS])
    }
    groups = _role_groups()
    # One hash for all: PBKDF2 is slow by design, and every demo account shares the password anyway.
    password_hash = make_password(DEMO_PASSWORD)
    logins, reps = [], []
    for spec in DEMO_USERS:
        user = existing.get(spec.username)
        if user is not None and not _is_demo_account(user):
            logins.append(_login(spec, password=None))
        else:
            user = user or user_model(username=spec.username)
            user.first_name, user.last_name = spec.first_name, spec.last_name
            user.email = _demo_email(spec.username)
            user.is_active = True
            user.is_superuser = spec.role == ADMIN_ROLE
            # Managers and the loyalty admin work in the Django admin too (programme, tiers, caps).
            user.is_staff = spec.role != ACCOUNT_REP
            user.password = password_hash
            user.save()
            user.groups.set([] if spec.role == ADMIN_ROLE else [groups[spec.role]])
            logins.append(_login(spec, password=DEMO_PASSWORD))
        if spec.role == ACCOUNT_REP:
            reps.append(user)
    return logins, reps


# --- names ------------------------------------------------------------------------------------


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


RU_MALE = _words(
    "Александр Алексей Андрей Антон Артём Борис Вадим Василий Виктор Владимир Глеб Григорий Денис "
    "Дмитрий Евгений Егор Иван Игорь Илья Кирилл Константин Максим Михаил Никита Николай Олег Павел "
    "Роман Сергей Степан Тимур Фёдор Юрий"
)
RU_FEMALE = _words(
    "Алина Алла Анастасия Анна Валентина Валерия Вера Виктория Галина Дарья Екатерина Елена "
    "Елизавета Ирина Ксения Лариса Людмила Марина Мария Надежда Наталья Нина Ольга Полина Светлана "
    "Софья Татьяна Юлия Яна"
)
# Male forms; the female form is derived (Иванов -> Иванова, Островский -> Островская).
RU_SURNAMES = _words(
    "Иванов Смирнов Кузнецов Попов Васильев Петров Соколов Михайлов Новиков Фёдоров Морозов Волков "
    "Алексеев Лебедев Семёнов Егоров Павлов Козлов Степанов Николаев Орлов Андреев Макаров Никитин "
    "Захаров Зайцев Соловьёв Борисов Яковлев Григорьев Романов Воробьёв Сергеев Кузьмин Фролов "
    "Александров Дмитриев Королёв Гусев Киселёв Ильин Максимов Поляков Сорокин Виноградов Ковалёв "
    "Белов Медведев Антонов Тарасов Жуков Баранов Филиппов Комаров Давыдов Беляев Герасимов "
    "Богданов Осипов Сидоров Матвеев Титов Марков Миронов Крылов Куликов Карпов Власов Мельников "
    "Денисов Гаврилов Тихонов Казаков Афанасьев Данилов Савельев Тимофеев Фомин Чернов Абрамов "
    "Мартынов Ефимов Федотов Щербаков Назаров Калинин Исаев Быков Маслов Родионов Коновалов "
    "Лазарев Воронин Климов Филатов Пономарёв Голубев Кудрявцев Прохоров Наумов Потапов Журавлёв "
    "Трофимов Леонов Соболев Ермаков Колесников Гончаров Емельянов Никифоров Грачёв Котов Гришин "
    "Архипов Громов Кириллов Малышев Панов Моисеев Румянцев Акимов Бирюков Горбунов Островский "
    "Покровский Успенский Вишневский Заречный"
)
EN_MALE = _words(
    "James John Robert Michael William David Richard Joseph Thomas Charles Daniel Matthew Anthony "
    "Mark Paul Steven Andrew George Edward Oliver Harry Jack Samuel Henry Peter Simon"
)
EN_FEMALE = _words(
    "Mary Patricia Jennifer Linda Elizabeth Susan Jessica Sarah Karen Emily Emma Olivia Sophie "
    "Charlotte Amelia Grace Hannah Lucy Rachel Laura Helen Kate Anna Claire Megan"
)
EN_SURNAMES = _words(
    "Smith Johnson Williams Brown Jones Miller Davis Wilson Anderson Taylor Thomas Moore Martin "
    "Jackson Thompson White Harris Clark Lewis Robinson Walker Young Allen King Wright Scott Green "
    "Baker Adams Nelson Hill Campbell Mitchell Roberts Carter Phillips Evans Turner Parker Collins "
    "Edwards Stewart Morris Murphy Cook Rogers Morgan Cooper Peterson Bailey Reed Kelly Howard Cox "
    "Ward Richardson Watson Brooks Wood Bennett Gray Hughes Price Sanders Foster Fisher Hayes Graham "
    "Sullivan Wallace Hunt Palmer Fox Knight Spencer Hudson Lawrence Webb Chapman Holmes"
)
RU_COMPANY_ROOTS = _words(
    "Альфа Вектор Гранит Меридиан Орион Сибирь Волга Урал Балтика Север Восток Прогресс Стандарт "
    "Импульс Кедр Сокол Радуга Союз Альянс Феникс Ресурс Авангард Атлант Триумф Техно Энерго Агро "
    "Мега Эталон Лидер"
)
RU_COMPANY_TRADES = _words(
    "Снаб Трейд Строй Маркет Пром Логистик Сервис Торг Комплект Продукт Мебель Текстиль Упак "
    "Металл Опт"
)
EN_COMPANY_ROOTS = _words(
    "Northwind Bluewater Redwood Silverline Oakridge Brightstone Greenfield Ironbridge Harborview "
    "Summit Pinecrest Westgate Eastwood Kingsley Riverside Highland Maple Crescent Falcon Atlas "
    "Beacon Cobalt Evergreen Granite Horizon Keystone Lakeside Meridian Northstar Sterling"
)
EN_COMPANY_TRADES = _words(
    "Supplies Logistics Trading Foods Engineering Retail Hardware Packaging Textiles Systems "
    "Builders Distribution Medical Print Furniture"
)

TRANSLIT = dict(
    zip(
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
        _words("a b v g d e e zh z i y k l m n o p r s t u f kh ts ch sh shch - y - e yu ya"),
        strict=True,
    )
)


def transliterate(text: str) -> str:
    """Latin letters for a Russian name, as people write it in e-mail addresses (Фёдоров -> fedorov)."""
    out = []
    for char in text.lower():
        latin = TRANSLIT.get(char, char)
        out.append("" if latin == "-" else latin)
    return "".join(out)


def _female_surname(surname: str) -> str:
    if surname.endswith(("ский", "цкий", "ный")):
        return surname[:-2] + "ая"
    return surname + "а"


def _slug(text: str) -> str:
    latin = transliterate(text)
    return "".join(char if char.isalnum() else "-" for char in latin).strip("-")


RU_TIME_ZONES = (
    ("Europe/Moscow", 0.70),
    ("Asia/Yekaterinburg", 0.10),
    ("Asia/Novosibirsk", 0.07),
    ("Europe/Samara", 0.05),
    ("Asia/Vladivostok", 0.05),
    ("Europe/Kaliningrad", 0.03),
)
EN_TIME_ZONES = (
    ("Europe/London", 0.60),
    ("America/New_York", 0.20),
    ("Europe/Dublin", 0.10),
    ("America/Chicago", 0.10),
)


class _Identities:
    """Draws names and contact details; keeps names of companies and all e-mails/phones unique."""

    def __init__(self, rng: np.random.Generator, today: date) -> None:
        self.rng = rng
        self.today = today
        self.company_names: set[str] = set()
        self.emails: set[str] = set()
        self.phones: set[str] = set()
        # Ofcom keeps 07700 900000-900999 for fiction, so English demo phones are never real.
        self.uk_fiction = [f"+447700900{n:03d}" for n in rng.permutation(1000)]

    def pick(self, items):
        return items[int(self.rng.integers(len(items)))]

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def _unique_email(self, local: str, domain: str) -> str:
        email, n = f"{local}@{domain}", 1
        while email in self.emails:
            n += 1
            email = f"{local}{n}@{domain}"
        self.emails.add(email)
        return email

    def _ru_phone(self, prefix: str, digits: int) -> str:
        while True:
            phone = prefix + "".join(str(d) for d in self.rng.integers(0, 10, size=digits))
            if phone not in self.phones:
                self.phones.add(phone)
                return phone

    def person(self, *, russian: bool) -> dict:
        female = self.chance(0.5)
        if russian:
            first = self.pick(RU_FEMALE if female else RU_MALE)
            last = self.pick(RU_SURNAMES)
            last = _female_surname(last) if female else last
            first_latin, last_latin = transliterate(first), transliterate(last)
        else:
            first = self.pick(EN_FEMALE if female else EN_MALE)
            last = self.pick(EN_SURNAMES)
            first_latin, last_latin = first.lower(), last.lower()
        local = self.pick(
            [
                f"{first_latin}.{last_latin}",
                f"{first_latin[0]}.{last_latin}",
                f"{last_latin}.{first_latin}",
            ]
        )
        email = ""
        if self.chance(0.9):
            email = self._unique_email(
                local, self.pick(["example.com", "example.net", "example.org"])
            )
        phone = ""
        if self.chance(0.85):
            if russian:
                phone = self._ru_phone("+79", 9)
            elif self.uk_fiction:
                phone = self.uk_fiction.pop()
        birthday = None
        if self.chance(0.9):
            age_days = int(self.rng.integers(19 * 365, 75 * 365))
            birthday = self.today - timedelta(days=age_days)
        return {
            "kind": Customer.Kind.PERSON,
            "name": f"{first} {last}",
            "email": email,
            "phone": phone,
            "birthday": birthday,
        }

    def company(self, *, russian: bool) -> dict:
        if russian and self.chance(0.25):
            female = self.chance(0.4)
            last = self.pick(RU_SURNAMES)
            last = _female_surname(last) if female else last
            initials = f"{self.pick(RU_FEMALE if female else RU_MALE)[0]}. {self.pick(RU_MALE)[0]}."
            name = self._unique_company(f"ИП {last} {initials}")
            local, domain = "ip." + transliterate(last), self.pick(["example.com", "example.net"])
        elif russian:
            name, root, trade = self._company_name(
                RU_COMPANY_ROOTS,
                RU_COMPANY_TRADES,
                lambda root, trade: f"{'АО' if self.chance(0.12) else 'ООО'} «{root}-{trade}»",
            )
            local = self.pick(["info", "zakaz", "sales", "office", "snab"])
            domain = f"{_slug(root + '-' + trade)}.example.com"
        else:
            name, root, trade = self._company_name(
                EN_COMPANY_ROOTS,
                EN_COMPANY_TRADES,
                lambda root, trade: f"{root} {trade} {self.pick(['Ltd', 'LLC', 'Inc.', 'plc'])}",
            )
            local = self.pick(["info", "sales", "orders", "office", "accounts"])
            domain = f"{_slug(root + '-' + trade)}.example.com"
        phone = self._ru_phone("+7495", 7) if russian else self._ru_phone("+4420", 8)
        return {
            "kind": Customer.Kind.COMPANY,
            "name": name,
            "email": self._unique_email(local, domain),
            "phone": phone,
            "birthday": None,
        }

    def _company_name(
        self, roots: list[str], trades: list[str], form: Callable[[str, str], str]
    ) -> tuple[str, str, str]:
        # A few fresh draws before numbering a name: namesakes are rare among real companies.
        for _attempt in range(20):
            root, trade = self.pick(roots), self.pick(trades)
            name = form(root, trade)
            if name not in self.company_names:
                break
        return self._unique_company(name), root, trade

    def _unique_company(self, name: str) -> str:
        candidate, n = name, 1
        while candidate in self.company_names:
            n += 1
            candidate = f"{name} ({n})"
        self.company_names.add(candidate)
        return candidate

    def time_zone(self, *, russian: bool) -> str:
        choices = RU_TIME_ZONES if russian else EN_TIME_ZONES
        names, weights = zip(*choices, strict=True)
        return names[int(self.rng.choice(len(names), p=np.array(weights) / sum(weights)))]


# --- the purchase process -------------------------------------------------------------------

KEY, REGULAR, OCCASIONAL, NEW = "key", "regular", "occasional", "new"

# Order size by month: December peaks, January and August dip.
SEASON_PERSON = np.array([0.85, 0.9, 1.0, 1.0, 1.05, 1.0, 0.9, 0.9, 1.0, 1.05, 1.1, 1.3])
SEASON_COMPANY = np.array([0.8, 0.95, 1.05, 1.05, 1.0, 1.0, 0.95, 0.85, 1.05, 1.05, 1.05, 1.15])

REFUND_REASONS = {
    "ru": [
        "Брак",
        "Не подошёл размер",
        "Пересорт",
        "Возврат по договорённости",
        "Повреждение при доставке",
    ],
    "en": [
        "Damaged goods",
        "Wrong size",
        "Wrong item delivered",
        "Goodwill return",
        "Damaged in transit",
    ],
}


@dataclass
class _PlannedCustomer:
    segment: str
    fields: dict
    tags: tuple[str, ...]
    owner_slot: int | None
    backup_slot: int | None
    days: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    partner: bool = False


@dataclass
class _Plan:
    customers: list[_PlannedCustomer]
    # One entry per purchase, in booking order (its external id is its position + 1).
    purchase_customer: np.ndarray
    purchase_days: np.ndarray
    purchase_seconds: np.ndarray
    purchase_cents: np.ndarray
    # (purchase position, day, second, cents, reason) per refund.
    refund_rows: list[tuple[int, int, int, int, str]]
    window_start: date


def _renewal_days(
    rng: np.random.Generator, *, start: float, end: float, mean_gap: float, shape: float
) -> np.ndarray:
    """Purchase days of a customer buying with gamma-distributed gaps from `start` until `end`."""
    times = [start]
    while times[-1] < end:
        count = max(8, int((end - times[-1]) / mean_gap * 1.3) + 2)
        gaps = rng.gamma(shape, mean_gap / shape, size=count)
        times.extend((times[-1] + np.cumsum(gaps)).tolist())
    days = np.floor(np.array(times))
    return days[(days >= 0) & (days < end)].astype(np.int64)


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def _segment_sizes(total: int) -> dict[str, int]:
    key = max(3, round(total * 0.015))
    new = round(total * 0.08)
    regular = round(total * 0.45)
    return {KEY: key, REGULAR: regular, NEW: new, OCCASIONAL: total - key - regular - new}


def _plan_base(*, customers: int, seed: int, today: date) -> _Plan:
    rng = np.random.default_rng(seed)
    window_start = today - timedelta(days=HISTORY_DAYS)
    end = float(HISTORY_DAYS)  # day offsets 0..729: the last purchase day is yesterday
    identities = _Identities(rng, today)
    sizes = _segment_sizes(customers)
    segments = [KEY] * sizes[KEY] + [REGULAR] * sizes[REGULAR] + [NEW] * sizes[NEW]
    segments += [OCCASIONAL] * sizes[OCCASIONAL]
    order = rng.permutation(len(segments))  # mixes segments over customer numbers
    planned: list[_PlannedCustomer | None] = [None] * len(segments)
    spend: list[np.ndarray] = [np.zeros(0)] * len(segments)
    key_positions: list[int] = []
    # Reps carry different loads, as in any team.
    rep_weights = np.array([0.24, 0.22, 0.20, 0.18, 0.16])

    for position, segment_index in enumerate(order):
        segment = segments[segment_index]
        company_share = {KEY: 1.0, REGULAR: 0.35, NEW: 0.2, OCCASIONAL: 0.15}[segment]
        is_company = identities.chance(company_share)
        russian = identities.chance(0.75)
        fields = (
            identities.company(russian=russian)
            if is_company
            else identities.person(russian=russian)
        )
        fields.update(_consents(identities, is_company=is_company))
        fields["language"] = Customer.Language.RU if russian else Customer.Language.EN
        fields["time_zone"] = identities.time_zone(russian=russian)
        owner_slot = int(rng.choice(len(rep_weights), p=rep_weights))
        backup_slot = None
        if segment == KEY or identities.chance(0.15):
            backup_slot = (owner_slot + 1 + int(rng.integers(len(rep_weights) - 1))) % len(
                rep_weights
            )
        if segment != KEY and identities.chance(0.02):
            owner_slot, backup_slot = None, None
        tags = _tags(identities, segment=segment, is_company=is_company)
        customer = _PlannedCustomer(segment, fields, tags, owner_slot, backup_slot)

        if segment == KEY:
            key_positions.append(position)
            customer.days = _renewal_days(
                rng,
                start=float(rng.uniform(0, 10)),
                end=end,
                mean_gap=float(rng.uniform(4, 12)),
                shape=float(rng.uniform(3, 8)),
            )
            spend[position] = rng.lognormal(-0.045, 0.3, size=len(customer.days))
        elif segment == REGULAR:
            mean_gap = _log_uniform(rng, 7, 60) if is_company else _log_uniform(rng, 14, 120)
            shape = float(rng.uniform(1.5, 5))
            # Most were already buying two years ago; the rest joined during the first 18 months.
            start = (
                float(rng.uniform(0, mean_gap))
                if identities.chance(0.8)
                else float(rng.uniform(0, 550))
            )
            stop = end
            fate = rng.random()
            if fate < 0.32:  # went quiet in the last 3-12 months: the customers to win back
                stop = end - float(rng.uniform(90, 365))
            elif fate < 0.40:  # lapsed more than a year ago
                stop = end - float(rng.uniform(365, 600))
            days = _renewal_days(
                rng, start=start, end=max(stop, start + 1), mean_gap=mean_gap, shape=shape
            )
            customer.days = days
            median = 30000.0 if is_company else 3500.0
            # Customers who buy rarely buy more at a time.
            mean_order = median * float(rng.lognormal(0, 0.7)) * (mean_gap / 30) ** 0.3
            spend[position] = mean_order * rng.lognormal(-0.06, 0.35, size=len(days))
        elif segment == NEW:
            start = end - float(rng.uniform(7, 150))
            customer.days = _renewal_days(
                rng,
                start=start,
                end=end,
                mean_gap=float(rng.uniform(10, 45)),
                shape=float(rng.uniform(1.5, 4)),
            )
            median = 20000.0 if is_company else 3000.0
            spend[position] = (
                median
                * float(rng.lognormal(0, 0.6))
                * rng.lognormal(-0.06, 0.35, size=len(customer.days))
            )
        else:
            first = int(rng.integers(0, HISTORY_DAYS))
            days = [first]
            if identities.chance(0.35):
                second = first + int(rng.gamma(2.0, 45.0)) + 1
                if second < HISTORY_DAYS:
                    days.append(second)
            customer.days = np.array(days, dtype=np.int64)
            median = 20000.0 if is_company else 2500.0
            spend[position] = median * rng.lognormal(0, 0.8, size=len(days))
        planned[position] = customer

    _shape_key_accounts(rng, planned=planned, spend=spend, key_positions=key_positions, end=end)
    return _book_purchases(rng, planned=planned, spend=spend, window_start=window_start)


def _consents(identities: _Identities, *, is_company: bool) -> dict:
    if is_company:
        shares = {"email": 0.85, "sms": 0.15, "phone": 0.95, "social": 0.10}
    else:
        shares = {"email": 0.6, "sms": 0.45, "phone": 0.75, "social": 0.35}
    return {f"consent_{channel}": identities.chance(p) for channel, p in shares.items()}


def _tags(identities: _Identities, *, segment: str, is_company: bool) -> tuple[str, ...]:
    tags = ["b2b"] if is_company else ["b2c"]
    if is_company and identities.chance(0.6 if segment == KEY else 0.4):
        tags.append("wholesale")
    if not is_company and identities.chance(0.5):
        tags.append("retail")
    if segment == KEY:
        tags.append("VIP")
    return tuple(tags)


def _shape_key_accounts(
    rng: np.random.Generator,
    *,
    planned: list[_PlannedCustomer],
    spend: list[np.ndarray],
    key_positions: list[int],
    end: float,
) -> None:
    """Sizes key accounts' orders so that together they make about a third of the revenue.

    The first is the conspicuous top client (11-14% alone); the second, a partner too, stopped
    ordering three to four months ago; with ten or more key accounts a fourth stopped about half a
    year ago. The rest share what is left by Pareto-distributed weights.
    """
    others = sum(
        float(spend[position].sum())
        for position, customer in enumerate(planned)
        if customer.segment != KEY
    )
    key_share = float(rng.uniform(0.33, 0.38))
    key_revenue = others * key_share / (1 - key_share)
    whale, quiet = float(rng.uniform(0.11, 0.14)), float(rng.uniform(0.04, 0.06))
    rest = key_positions[2:]
    # Largest first, so the third key account (a partner) is the biggest after the two above.
    weights = np.sort(rng.pareto(1.5, size=len(rest)) + 1)[::-1]
    shares = [whale, quiet, *((key_share - whale - quiet) * weights / weights.sum())]
    total_revenue = others + key_revenue
    for rank, position in enumerate(key_positions):
        customer = planned[position]
        stopped_days_ago = None
        if rank == 1:
            stopped_days_ago = float(rng.uniform(95, 125))
        elif rank == 3 and len(key_positions) >= 10:
            stopped_days_ago = float(rng.uniform(150, 270))
        if stopped_days_ago is not None:
            keep = customer.days < end - stopped_days_ago
            customer.days, spend[position] = customer.days[keep], spend[position][keep]
        customer.partner = rank in (0, 1, 2)
        target = shares[rank] * total_revenue
        # The noise has mean one, so the target holds on average, not to the rouble.
        spend[position] = spend[position] * (target / len(customer.days))


def _book_purchases(
    rng: np.random.Generator,
    *,
    planned: list[_PlannedCustomer],
    spend: list[np.ndarray],
    window_start: date,
) -> _Plan:
    """Places every purchase on a day and an hour, in roubles and kopecks, and picks the refunds."""
    owners, days, cents, companies = [], [], [], []
    start_weekday = window_start.weekday()
    months = np.array(
        [(window_start + timedelta(days=d)).month - 1 for d in range(HISTORY_DAYS)], dtype=np.int64
    )
    for position, customer in enumerate(planned):
        customer_days = customer.days.copy()
        is_company = customer.fields["kind"] == Customer.Kind.COMPANY
        if is_company:
            # Companies order on working days: a weekend order moves to Monday (or back to Friday).
            weekday = (start_weekday + customer_days) % 7
            shift = np.where(weekday == 5, 2, np.where(weekday == 6, 1, 0))
            moved = customer_days + shift
            back = np.where(weekday == 5, -1, -2)
            customer_days = np.where(moved < HISTORY_DAYS, moved, customer_days + back)
        customer_days.sort()
        customer.days = customer_days
        season = (SEASON_COMPANY if is_company else SEASON_PERSON)[months[customer_days]]
        amounts = np.maximum(spend[position] * season, 150.0)
        # Companies are invoiced in whole roubles; shops charge kopecks.
        kopecks = np.round(amounts) * 100 if is_company else np.round(amounts * 100)
        owners.append(np.full(len(customer_days), position, dtype=np.int64))
        days.append(customer_days)
        cents.append(kopecks.astype(np.int64))
        companies.append(np.full(len(customer_days), is_company))
    owner = np.concatenate(owners)
    day = np.concatenate(days)
    cent = np.concatenate(cents)
    company = np.concatenate(companies)
    # Business hours: companies 09:00-18:00, shoppers 10:00-21:00.
    seconds = np.where(
        company,
        rng.integers(9 * 3600, 18 * 3600, size=len(day)),
        rng.integers(10 * 3600, 21 * 3600, size=len(day)),
    )
    booking = np.lexsort((owner, seconds, day))
    owner, day, seconds, cent = owner[booking], day[booking], seconds[booking], cent[booking]

    refund_rows = []
    refunded = np.flatnonzero(rng.random(len(day)) < 0.02)
    delays = rng.integers(1, 21, size=len(refunded))
    full = rng.random(len(refunded)) < 0.55
    partial = np.maximum(100, np.round(cent[refunded] * rng.uniform(0.1, 0.7, size=len(refunded))))
    refund_seconds = rng.integers(10 * 3600, 18 * 3600, size=len(refunded))
    reasons = rng.integers(0, len(REFUND_REASONS["en"]), size=len(refunded))
    for i, purchase in enumerate(refunded.tolist()):
        refund_day = int(day[purchase] + delays[i])
        if refund_day >= HISTORY_DAYS:
            continue
        amount = int(cent[purchase]) if full[i] else int(partial[i])
        language = planned[int(owner[purchase])].fields["language"]
        reason = REFUND_REASONS["ru" if language == Customer.Language.RU else "en"][reasons[i]]
        refund_rows.append((purchase, refund_day, int(refund_seconds[i]), amount, reason))

    return _Plan(
        customers=planned,
        purchase_customer=owner,
        purchase_days=day,
        purchase_seconds=seconds,
        purchase_cents=cent,
        refund_rows=refund_rows,
        window_start=window_start,
    )


# --- writing ----------------------------------------------------------------------------------


def _aware(day: date, second: int = 0, *, zone: ZoneInfo | None = None) -> datetime:
    zone = zone or ZoneInfo(settings.TIME_ZONE)
    return datetime(day.year, day.month, day.day, tzinfo=zone) + timedelta(seconds=second)


def _money(cents: int) -> Decimal:
    return Decimal(int(cents)).scaleb(-2)


def _stage(customer: _PlannedCustomer) -> str:
    if customer.partner:
        return Customer.Stage.PARTNER
    recent_days = np.unique(customer.days[customer.days >= HISTORY_DAYS - 365])
    return Customer.Stage.REGULAR if len(recent_days) >= 3 else Customer.Stage.ONE_OFF


def _chunks(items: list, size: int) -> Iterable[list]:
    for offset in range(0, len(items), size):
        yield items[offset : offset + size]


def _write_base(*, plan: _Plan, reps: list, report: ProgressCallback) -> None:
    # Progress counts rows written and then rows announced: receivers (loyalty) take a while too.
    total = len(plan.customers) + 2 * (len(plan.purchase_days) + len(plan.refund_rows))
    done = 0
    report("customers", done, total)

    moments: dict[tuple[int, int], datetime] = {}
    zone = ZoneInfo(settings.TIME_ZONE)

    def moment(day: int, second: int) -> datetime:
        key = (day, second)
        if key not in moments:
            moments[key] = _aware(plan.window_start + timedelta(days=day), second, zone=zone)
        return moments[key]

    first_purchase: dict[int, datetime] = {}
    for position, day, second in zip(
        plan.purchase_customer.tolist(),
        plan.purchase_days.tolist(),
        plan.purchase_seconds.tolist(),
        strict=True,
    ):
        first_purchase.setdefault(position, moment(day, second))

    def rep(slot: int | None):
        return None if slot is None else reps[slot % len(reps)]

    rows = []
    for position, planned in enumerate(plan.customers):
        owner, backup = rep(planned.owner_slot), rep(planned.backup_slot)
        if backup is not None and owner is not None and backup.pk == owner.pk:
            backup = None
        rows.append(
            Customer(
                **planned.fields,
                owner=owner,
                backup=backup,
                stage=_stage(planned),
                external_id=f"{CUSTOMER_ID_PREFIX}{position + 1:06d}",
                created_at=first_purchase[position],
            )
        )
    customers = Customer.objects.bulk_create(rows, batch_size=WRITE_BATCH)
    done += len(customers)
    report("customers", done, total)

    tag_names = sorted({name for planned in plan.customers for name in planned.tags})
    Tag.objects.bulk_create([Tag(name=name) for name in tag_names], ignore_conflicts=True)
    TAGS.renew()  # bulk_create sends no signal: the filter bars' kept tag options
    tag_ids = dict(Tag.objects.filter(name__in=tag_names).values_list("name", "pk"))
    through = Customer.tags.through
    through.objects.bulk_create(
        [
            through(customer_id=customer.pk, tag_id=tag_ids[name])
            for customer, planned in zip(customers, plan.customers, strict=True)
            for name in planned.tags
        ],
        batch_size=WRITE_BATCH,
    )

    purchase_ids: list[int] = []
    purchase_rows = [
        Purchase(
            customer_id=customers[position].pk,
            occurred_at=moment(day, second),
            created_at=moment(day, second),
            amount=_money(cents),
            currency="RUB",
            external_id=f"{PURCHASE_ID_PREFIX}{number + 1:07d}",
            source=Purchase.Source.DEMO,
        )
        for number, (position, day, second, cents) in enumerate(
            zip(
                plan.purchase_customer.tolist(),
                plan.purchase_days.tolist(),
                plan.purchase_seconds.tolist(),
                plan.purchase_cents.tolist(),
                strict=True,
            )
        )
    ]
    for batch in _chunks(purchase_rows, WRITE_BATCH):
        purchase_ids.extend(purchase.pk for purchase in Purchase.objects.bulk_create(batch))
        done += len(batch)
        report("purchases", done, total)
    for ids in _chunks(purchase_ids, SIGNAL_BATCH):
        purchases_recorded.send(sender=Purchase, purchase_ids=ids)
        done += len(ids)
        report("announcing purchases", done, total)

    refund_rows = [
        Refund(
            purchase_id=purchase_ids[purchase],
            amount=_money(cents),
            occurred_at=moment(day, second),
            created_at=moment(day, second),
            external_id=f"{REFUND_ID_PREFIX}{number + 1:07d}",
            reason=reason,
        )
        for number, (purchase, day, second, cents, reason) in enumerate(plan.refund_rows)
    ]
    refund_ids = [
        refund.pk for refund in Refund.objects.bulk_create(refund_rows, batch_size=WRITE_BATCH)
    ]
    done += len(refund_ids)
    report("refunds", done, total)
    for ids in _chunks(refund_ids, SIGNAL_BATCH):
        refunds_recorded.send(sender=Refund, refund_ids=ids)
        done += len(ids)
        report("announcing refunds", done, total)
