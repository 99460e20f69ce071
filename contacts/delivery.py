"""Handing one outbox message to the channel's transport, and what a failure means.

The outbox decides from the error class whether a message may be tried again:
- TemporaryDeliveryError: the provider certainly did not take it (connection refused, 5xx, 429);
  retried with back-off.
- PermanentDeliveryError: the provider refused it for good (bad number, rejected address).
- AmbiguousDeliveryError: it may have gone out (a timeout after the request was sent); the row
  becomes `unknown` and is never re-sent automatically: at most once beats at least once here.
"""

from email.utils import make_msgid

from django.conf import settings
from django.core.mail import EmailMessage, get_connection


class DeliveryError(Exception):
    """Base of the transport errors; the message never contains the customer's personal data."""


class TemporaryDeliveryError(DeliveryError):
    pass


class PermanentDeliveryError(DeliveryError):
    pass


class AmbiguousDeliveryError(DeliveryError):
    pass


def send_email(*, to: str, subject: str, body: str, key: str, headers: dict | None = None) -> str:
    """Sends through Django's configured e-mail backend; returns the Message-ID it carried."""
    import smtplib

    domain = getattr(settings, "EMAIL_MESSAGE_ID_DOMAIN", None) or "retention.local"
    message_id = make_msgid(idstring=key.replace(":", "-")[:60], domain=domain)
    message = EmailMessage(
        subject=subject,
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        headers={"Message-ID": message_id, **(headers or {})},
        connection=get_connection(fail_silently=False),
    )
    try:
        sent = message.send()
    except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as error:
        raise PermanentDeliveryError(type(error).__name__) from error
    except (smtplib.SMTPConnectError, ConnectionRefusedError) as error:
        raise TemporaryDeliveryError(type(error).__name__) from error
    except (TimeoutError, smtplib.SMTPServerDisconnected) as error:
        raise AmbiguousDeliveryError(type(error).__name__) from error
    if not sent:
        raise TemporaryDeliveryError("the e-mail backend sent nothing")
    return message_id


def send_sms(*, to: str, body: str, key: str) -> str:
    """Sends through the configured SMS backend; returns the provider's message id."""
    from .sms import get_sms_backend

    return get_sms_backend().send(to=to, body=body, key=key)
