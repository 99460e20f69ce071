from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ContactsConfig(AppConfig):
    name = "contacts"
    verbose_name = _("Contacts")

    def ready(self) -> None:
        from customers.signals import customer_data_requested, customer_erased

        from . import receivers

        customer_data_requested.connect(
            receivers.export_contact_data, dispatch_uid="contacts.export_contact_data"
        )
        customer_erased.connect(
            receivers.erase_contact_data, dispatch_uid="contacts.erase_contact_data"
        )
