"""Form fields shared by the apps."""

from django import forms

from common.caching import Generation


class KeptModelChoiceField(forms.ModelChoiceField):
    """A ModelChoiceField whose options are kept in the shared cache under a `Generation` that
    every change to the rows behind them renews: a filter bar lists the reps or the tags without
    a query. Submitted values are still checked against the queryset, as Django does."""

    def __init__(self, *args, generation: Generation, key: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.generation, self.key = generation, key

    def __deepcopy__(self, memo):
        # Each form gets a copy of its fields; the generation is shared, never copied.
        copied = super().__deepcopy__(memo)
        copied.generation = self.generation
        return copied

    def kept_choices(self) -> list[tuple[str, str]]:
        """(value, label) of every row of the queryset, as its options show them."""
        return self.generation.kept(
            self.key,
            lambda: [
                (str(self.prepare_value(row)), str(self.label_from_instance(row)))
                for row in self.queryset
            ],
        )
