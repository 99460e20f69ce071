"""`manage.py import_purchases FILE`: records purchases from a CSV export, each once."""

from django.utils.translation import gettext as _

from customers import imports

from .import_customers import ImportCommand


class Command(ImportCommand):
    importer = staticmethod(imports.import_purchases)
    columns = imports.PURCHASE_COLUMNS

    @property
    def help(self) -> str:  # translated when asked for, in the active language
        return _(
            "Imports purchases from a CSV file (1C exports welcome): each external id is "
            "recorded once, so importing the same file again adds nothing; rows with errors are "
            "reported."
        )
