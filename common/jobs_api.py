"""The API's read-only view of the nightly jobs' runs (common.models.JobRun), for managers.

Kept apart from common/api.py: that module is imported by DRF's settings while rest_framework.views
is still loading, so it must not import the viewsets itself.
"""

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.permissions import IsAuthenticated

from .api import ActionPermissions, BoundedLookupMixin, StableOrderingFilter, error_responses
from .models import JobRun


class JobRunOutput(serializers.ModelSerializer):
    seconds = serializers.FloatField(
        read_only=True, allow_null=True, help_text=_("How long the run took, once finished.")
    )
    counts = serializers.DictField(read_only=True, help_text=_("What the job did, by name."))

    class Meta:
        model = JobRun
        fields = [
            "id",
            "job",
            "run_date",
            "status",
            "attempts",
            "started_at",
            "finished_at",
            "seconds",
            "counts",
            "error",
            "created_at",
        ]
        read_only_fields = fields


class JobRunFilter(filters.FilterSet):
    job = filters.CharFilter(field_name="job", label=_("Job name, e.g. rescore"))
    status = filters.ChoiceFilter(choices=JobRun.Status.choices)
    run_date_after = filters.DateFilter(field_name="run_date", lookup_expr="gte")
    run_date_before = filters.DateFilter(field_name="run_date", lookup_expr="lte")
    ordering = StableOrderingFilter(fields=(("run_date", "run_date"), ("started_at", "started_at")))

    class Meta:
        model = JobRun
        fields: list[str] = []


@extend_schema_view(
    list=extend_schema(
        summary=_("Nightly job runs (managers)"),
        description=_(
            "One run per job and business date (rescore, plan_contacts, expire_points, "
            "review_tiers, managers_digest), newest date first, with its status and counts."
        ),
        responses={200: JobRunOutput(many=True), **error_responses(400)},
    ),
    retrieve=extend_schema(
        summary=_("A job run (managers)"), responses={200: JobRunOutput, **error_responses(404)}
    ),
)
class JobRunViewSet(
    BoundedLookupMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = JobRunOutput
    filterset_class = JobRunFilter
    permission_classes = [IsAuthenticated, ActionPermissions]
    # The same readers as the dashboard's panel of nightly runs.
    action_permissions = {
        "list": ("customers.view_all_customers",),
        "retrieve": ("customers.view_all_customers",),
    }

    def get_queryset(self) -> QuerySet[JobRun]:
        return JobRun.objects.order_by("-run_date", "job", "-id")
