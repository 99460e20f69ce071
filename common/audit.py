"""The audit trail: one `record_audit_event` call per thing that matters, and the receivers that
record what other apps do without those apps knowing about the trail.

What is recorded where:

* logins, logouts and failed logins: Django's auth signals (`user_logged_in`, `user_logged_out`,
  `user_login_failed`); a failed login refused by the lockout says so in `details.locked_out`;
* reassignments: `customers.signals.customers_reassigned`, one event per customer moved;
* consent changes: every new `contacts.ConsentChange` row (the one log of consent, with its source);
* loyalty configuration (the models in `LOYALTY_CONFIG_MODELS`): every save and delete, with the
  fields changed, by whoever made the request (admin or page);
* imports, exports, personal-data exports and erasures: their code calls `record_audit_event`;
* points adjustments, redemptions and their cancellation: loyalty's services call
  `record_audit_event` (see the actions `POINTS_ADJUSTED`, `REWARD_REDEEMED`,
  `REDEMPTION_CANCELLED`).

An event is written in the caller's transaction: if the change rolls back, so does its record.
Details hold ids and counts, never a customer's personal data.
"""

import ipaddress
import json
import logging
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model, user_logged_in, user_logged_out, user_login_failed
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models.signals import post_delete, post_save, pre_save
from django.http import HttpRequest

from .models import AuditEvent

logger = logging.getLogger(__name__)

AuditAction = AuditEvent.Action

# Loyalty's configuration: changes to these rows change how points are earned and spent. Every
# other loyalty model is a record written by services (ledger, accounts, redemptions); the
# security tests fail when loyalty gains a model that is in neither list, so someone decides.
LOYALTY_CONFIG_MODELS = ("Programme", "Tier", "Partner", "Reward")
LOYALTY_RECORD_MODELS = (
    "LoyaltyAccount",
    "PurchasePoints",
    "Redemption",
    "LedgerEntry",
    "TierChange",
    "MemberAccess",
    "LoyaltyMessage",
    "PendingAccrual",
)

# Reassignment events are inserted in batches of this many rows: one statement per batch, a few
# for even the largest hand-over.
REASSIGNMENT_BATCH = 1000

_current_request: ContextVar[HttpRequest | None] = ContextVar("audit_request", default=None)


def bind_request(request: HttpRequest | None):
    """Makes `request` the one events are attributed to in this context; returns the reset token."""
    return _current_request.set(request)


def unbind_request(token) -> None:
    _current_request.reset(token)


def current_request() -> HttpRequest | None:
    """The request being served in this context (set by `AuditContextMiddleware`), if any."""
    return _current_request.get()


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: REMOTE_ADDR, or with N trusted proxies in front
    (AXES_IPWARE_PROXY_COUNT), the Nth address from the right of X-Forwarded-For.

    Only the entries the trusted proxies appended are believed; whatever the client itself put
    at the left of the header is ignored, so the address cannot be forged to dodge the lockout.
    """
    proxies = getattr(settings, "AXES_IPWARE_PROXY_COUNT", None) or 0
    candidate = request.META.get("REMOTE_ADDR", "")
    if proxies:
        forwarded = [
            part.strip()
            for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if part.strip()
        ]
        if len(forwarded) >= proxies:
            candidate = forwarded[-proxies]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None


def _json_safe(details: dict | None) -> dict:
    # Decimals, dates and lazy strings become JSON values here, once, whatever the caller passed.
    return json.loads(json.dumps(details or {}, cls=DjangoJSONEncoder))


def _user_of(request: HttpRequest | None):
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


def record_audit_event(
    *,
    action: str,
    actor=None,
    obj: models.Model | None = None,
    customer_id: int | None = None,
    details: dict | None = None,
    request: HttpRequest | None = None,
    actor_label: str = "",
    actor_from_request: bool = True,
) -> AuditEvent:
    """Writes one audit event; without an `actor`, the user of the current request is the actor
    (unless `actor_from_request` is false: a failed login is nobody's, whoever is logged in).

    `obj` names the object acted on (its type and id); the customer is `customer_id`, or `obj`
    itself when it is a customer, or `obj.customer_id` when it has one.
    """
    request = request or current_request()
    if actor is None and actor_from_request:
        actor = _user_of(request)
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    object_type = object_id = ""
    if obj is not None:
        object_type, object_id = obj._meta.label_lower, str(obj.pk)
        if customer_id is None:
            if obj._meta.label_lower == "customers.customer":
                customer_id = obj.pk
            else:
                customer_id = getattr(obj, "customer_id", None)
    return AuditEvent.objects.create(
        actor=actor,
        actor_label=(actor.get_username() if actor is not None else actor_label)[:150],
        action=action,
        object_type=object_type,
        object_id=object_id,
        customer_id=customer_id,
        details=_json_safe(details),
        ip_address=client_ip(request) if request is not None else None,
    )


def export_filters(query) -> dict[str, str]:
    """The filters of an export request as audit details; free-text search is only marked, since
    it may be a person's name."""
    filters = {key: value for key, value in query.items() if value and key != "q"}
    if query.get("q"):
        filters["q"] = "(text search)"
    return filters


def audit_events(
    *,
    action: str = "",
    actor_id: int | None = None,
    customer_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> models.QuerySet:
    """Audit events, newest first, narrowed by whichever filters are given."""
    events = AuditEvent.objects.select_related("actor", "customer")
    if action:
        events = events.filter(action=action)
    if actor_id is not None:
        events = events.filter(actor_id=actor_id)
    if customer_id is not None:
        events = events.filter(customer_id=customer_id)
    if since is not None:
        events = events.filter(at__gte=since)
    if until is not None:
        events = events.filter(at__lt=until)
    return events.order_by("-at", "-id")


# --- receivers --------------------------------------------------------------------------------


def record_login(sender, request, user, **kwargs) -> None:
    record_audit_event(action=AuditAction.LOGIN, actor=user, request=request)


def record_logout(sender, request, user, **kwargs) -> None:
    if user is not None:
        record_audit_event(action=AuditAction.LOGOUT, actor=user, request=request)


def record_login_failure(sender, credentials, request=None, **kwargs) -> None:
    # Django passes the credentials with the password masked; the name tried is what matters.
    username = str(credentials.get(get_user_model().USERNAME_FIELD, "") or "")
    record_audit_event(
        action=AuditAction.LOGIN_FAILED,
        actor=None,
        actor_from_request=False,
        actor_label=username,
        request=request,
        details={"locked_out": bool(getattr(request, "axes_locked_out", False))},
    )


def record_reassignment(
    sender, customer_ids: list[int], to_owner_id: int | None, by_id: int | None = None, **kwargs
) -> None:
    """One event per customer moved, so each customer's history shows who moved it and to whom."""
    request = current_request()
    actor = get_user_model().objects.filter(pk=by_id).first() if by_id else _user_of(request)
    label = actor.get_username()[:150] if actor is not None else ""
    ip = client_ip(request) if request is not None else None
    events = [
        AuditEvent(
            actor=actor,
            actor_label=label,
            action=AuditAction.CUSTOMERS_REASSIGNED,
            object_type="customers.customer",
            object_id=str(customer_id),
            customer_id=customer_id,
            details={"to_owner_id": to_owner_id, "moved_together": len(customer_ids)},
            ip_address=ip,
        )
        for customer_id in customer_ids
    ]
    AuditEvent.objects.bulk_create(events, batch_size=REASSIGNMENT_BATCH)


def record_consent_change(sender, instance, created: bool, raw: bool = False, **kwargs) -> None:
    if not created or raw:
        return
    record_audit_event(
        action=AuditAction.CONSENT_CHANGED,
        actor=instance.by,
        obj=instance,
        customer_id=instance.customer_id,
        details={
            "channel": instance.channel,
            "granted": instance.granted,
            "source": instance.source,
        },
    )


def _config_values(instance: models.Model) -> dict[str, Any]:
    return _json_safe(
        {
            field.attname: field.value_from_object(instance)
            for field in instance._meta.concrete_fields
            # Timestamps change on every save and say nothing about what was changed.
            if not getattr(field, "auto_now", False)
        }
    )


def remember_config_before_save(sender, instance, raw: bool = False, **kwargs) -> None:
    if raw or instance._state.adding or instance.pk is None:
        instance._audit_before = None
        return
    stored = sender._default_manager.filter(pk=instance.pk).first()
    instance._audit_before = _config_values(stored) if stored is not None else None


def record_config_save(sender, instance, created: bool, raw: bool = False, **kwargs) -> None:
    if raw:
        return
    after = _config_values(instance)
    before = getattr(instance, "_audit_before", None) or {}
    changes = {
        name: [before.get(name), value]
        for name, value in after.items()
        if created or before.get(name) != value
    }
    if not changes:
        return
    record_audit_event(
        action=AuditAction.LOYALTY_CONFIG_CHANGED,
        obj=instance,
        details={"operation": "created" if created else "changed", "changes": changes},
    )


def record_config_delete(sender, instance, **kwargs) -> None:
    record_audit_event(
        action=AuditAction.LOYALTY_CONFIG_CHANGED,
        obj=instance,
        details={"operation": "deleted", "values": _config_values(instance)},
    )


def loyalty_config_models() -> list[type[models.Model]]:
    """Loyalty's configuration models that exist (resolved by label; common imports no app)."""
    found = []
    for name in LOYALTY_CONFIG_MODELS:
        try:
            found.append(apps.get_model("loyalty", name))
        except LookupError:
            logger.warning("audit.loyalty_model_missing model=%s", name)
    return found


def connect_receivers() -> None:
    """Connects the trail to the auth signals and to other apps' signals and models, by label."""
    from customers.signals import customers_reassigned

    user_logged_in.connect(record_login, dispatch_uid="common.audit.login")
    user_logged_out.connect(record_logout, dispatch_uid="common.audit.logout")
    user_login_failed.connect(record_login_failure, dispatch_uid="common.audit.login_failed")
    customers_reassigned.connect(record_reassignment, dispatch_uid="common.audit.reassigned")
    if apps.is_installed("contacts"):
        post_save.connect(
            record_consent_change,
            sender=apps.get_model("contacts", "ConsentChange"),
            dispatch_uid="common.audit.consent",
        )
    if apps.is_installed("loyalty"):
        for model in loyalty_config_models():
            uid = f"common.audit.config.{model._meta.label_lower}"
            pre_save.connect(remember_config_before_save, sender=model, dispatch_uid=f"{uid}.pre")
            post_save.connect(record_config_save, sender=model, dispatch_uid=f"{uid}.post")
            post_delete.connect(record_config_delete, sender=model, dispatch_uid=f"{uid}.delete")
