"""Form fields shared by the apps."""

from collections.abc import Callable, Iterable

from django import forms


class KeptModelChoiceField(forms.ModelChoiceField):
    """A ModelChoiceField whose options come from `rows()`, a list of its model's instances that
    the caller keeps in the cache (customers.selectors.active_reps, kept_tags): a filter bar lists
    the reps or the tags without a query. Submitted values are still checked against the
    queryset, as Django does."""

    def __init__(self, *args, rows: Callable[[], Iterable], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.rows = rows

    def kept_choices(self) -> list[tuple[str, str]]:
        """(value, label) of every row, as the field's options show them."""
        return [
            (str(self.prepare_value(row)), str(self.label_from_instance(row))) for row in self.rows()
        ]
