"""Browser imports for managers: upload a file, watch it run, read the result, download the errors."""

from pathlib import Path

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin, PermissionRequiredMixin
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import DetailView, FormView

from . import imports
from .import_forms import ImportUploadForm
from .models import ImportJob

# How many of a job's row errors the page lists; the rest are in the downloadable report.
ERRORS_SHOWN = 20


class ImportPermissionMixin(LoginRequiredMixin, PermissionRequiredMixin):
    permission_required = "customers.import_data"


class ImportListView(ImportPermissionMixin, FormView):
    """The upload form and the latest imports."""

    template_name = "customers/imports/import_list.html"
    form_class = ImportUploadForm

    def get_context_data(self, **kwargs):
        return super().get_context_data(jobs=imports.recent_import_jobs(), **kwargs)

    def form_valid(self, form):
        job = imports.create_import_job(
            kind=form.cleaned_data["kind"], upload=form.cleaned_data["file"], by=self.request.user
        )
        messages.info(
            self.request, _("%(name)s is queued for import.") % {"name": job.original_name}
        )
        return HttpResponseRedirect(job.get_absolute_url())


class ImportJobMixin(ImportPermissionMixin):
    model = ImportJob
    context_object_name = "job"

    def get_queryset(self):
        return ImportJob.objects.select_related("created_by")

    def get_context_data(self, **kwargs):
        job = self.object
        finished = job.status in {ImportJob.Status.DONE, ImportJob.Status.FAILED}
        return super().get_context_data(
            is_active=not finished,
            errors=imports.first_errors_of(job=job, limit=ERRORS_SHOWN) if finished else [],
            errors_shown=ERRORS_SHOWN,
            **kwargs,
        )


class ImportDetailView(ImportJobMixin, DetailView):
    template_name = "customers/imports/import_detail.html"


class ImportProgressView(ImportJobMixin, DetailView):
    """The status part of the detail page, polled by htmx while the job runs."""

    template_name = "customers/imports/_partials/progress.html"


class ImportErrorsDownloadView(ImportPermissionMixin, View):
    def get(self, request, pk: int):
        job = ImportJob.objects.filter(pk=pk).first()
        if job is None or not job.error_report:
            raise Http404(_("This import has no error report."))
        filename = f"{Path(job.original_name).stem or 'import'}-errors.csv"
        return FileResponse(
            job.error_report.open("rb"),
            as_attachment=True,
            filename=filename,
            content_type="text/csv; charset=utf-8",
        )
