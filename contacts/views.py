"""Contacts pages. Views parse input, call one selector or service, and render."""

import uuid
from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin, PermissionRequiredMixin
from django.core import signing
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django.views.generic import FormView, TemplateView

from common.errors import DomainError
from customers.models import Customer
from customers.selectors import customer_for, customer_row_for, reps_queryset
from customers.views import CustomerActionMixin

from . import conf, selectors, services
from .errors import ContactRefusedError
from .forms import (
    CallOutcomeForm,
    CapOverrideForm,
    ConsentForm,
    FeedbackForm,
    PreferencesForm,
    RepPerformanceForm,
    ScheduleContactForm,
)
from .models import (
    Channel,
    ConsentChange,
    ContactPreferences,
    Feedback,
    Kind,
    LeaveReason,
    Outcome,
    Touch,
)
from .services.feedback import read_feedback_token
from .services.outbox import read_unsubscribe_token

# A rep works through a few dozen calls a day; the list shows the most important first and loads
# more on request, so a list that has piled up to thousands costs the same to open.
CALL_LIST_ROWS = 25
CALL_LIST_MAX_ROWS = 500


def _is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


def _outcome_choices() -> dict:
    return {"outcomes": Outcome.choices, "leave_reasons": LeaveReason.choices}


class CallListView(LoginRequiredMixin, PermissionRequiredMixin, TemplateView):
    """A rep's calls for today; a manager picks whose list to see."""

    permission_required = "contacts.view_calllistentry"
    template_name = "contacts/call_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        rep, reps = user, None
        if selectors.can_manage_team(user):
            reps = list(reps_queryset())
            rep_id = self.request.GET.get("rep", "")
            if rep_id.isdigit():
                rep = next((candidate for candidate in reps if candidate.pk == int(rep_id)), None)
                if rep is None:
                    raise Http404
        shown = CALL_LIST_ROWS
        requested = self.request.GET.get("show", "")
        if requested.isdigit():
            shown = min(max(int(requested), CALL_LIST_ROWS), CALL_LIST_MAX_ROWS)
        context.update(
            call_list=selectors.call_list_for(rep=rep, day=timezone.localdate(), limit=shown),
            more=min(shown + CALL_LIST_ROWS, CALL_LIST_MAX_ROWS),
            shown_rep=rep,
            reps=reps,
            is_own_list=rep == user,
            **_outcome_choices(),
        )
        return context


class CallOutcomeView(LoginRequiredMixin, PermissionRequiredMixin, View):
    """Logs a call's outcome from the call list (htmx: answers with the row to swap in)."""

    permission_required = "contacts.add_touch"

    def post(self, request, customer_id: int):
        customer = customer_row_for(request.user, customer_id)
        form = CallOutcomeForm(request.POST)
        touch = None
        if form.is_valid():
            data = form.cleaned_data
            try:
                touch = services.log_call_outcome(
                    customer_id=customer.pk,
                    by=request.user,
                    outcome=data["outcome"],
                    channel=data["channel"],
                    notes=data["notes"],
                    callback_at=data["callback_at"],
                    leave_reason=data["leave_reason"],
                )
            except DomainError as error:
                form.add_error(error.field if error.field in form.fields else None, error.message)
        if not _is_htmx(request):
            if touch is None:
                for errors in form.errors.values():
                    for error in errors:
                        messages.error(request, error)
            else:
                messages.success(
                    request, _("Outcome logged for %(name)s.") % {"name": customer.name}
                )
            return redirect("contacts:call-list")
        if touch is None:
            row = selectors.call_list_row_for(rep=customer.owner, customer_id=customer.pk) or (
                selectors.CallListRow(
                    customer=customer, score=getattr(customer, "score", None), entries=[]
                )
            )
            return render(
                request,
                "contacts/_partials/call_list_row.html",
                {"row": row, "form": form, **_outcome_choices()},
                status=400,
            )
        row = selectors.CallListRow(
            customer=customer, score=None, entries=[], done=True, touch=touch
        )
        next_call = None
        if touch.outcome == Outcome.NO_ANSWER:
            next_call = timezone.localdate() + timedelta(days=conf.no_answer_retry_days())
        return render(
            request,
            "contacts/_partials/call_list_row.html",
            {"row": row, "next_call": next_call, **_outcome_choices()},
        )


class KeyAccountWatchView(LoginRequiredMixin, PermissionRequiredMixin, TemplateView):
    """Managers: key accounts nobody contacted for too long, per rep, with a way to reassign."""

    permission_required = "contacts.manage_team_contacts"
    template_name = "contacts/key_accounts.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        groups = selectors.key_account_watch(user=self.request.user)
        context.update(
            groups=groups,
            total=sum(len(group.customers) for group in groups),
            days=conf.key_account_days(),
            can_reassign=self.request.user.has_perm("customers.reassign_customers"),
        )
        return context


class RepPerformanceView(LoginRequiredMixin, PermissionRequiredMixin, TemplateView):
    permission_required = "contacts.manage_team_contacts"
    template_name = "contacts/performance.html"

    def get(self, request, *args, **kwargs):
        today = timezone.localdate()
        form = RepPerformanceForm(
            request.GET or None,
            initial={"start": today - timedelta(days=29), "end": today},
        )
        if request.GET and not form.is_valid():
            start, end, status = today - timedelta(days=29), today, 400
        elif request.GET:
            start, end, status = form.cleaned_data["start"], form.cleaned_data["end"], 200
        else:
            start, end, status = today - timedelta(days=29), today, 200
        context = self.get_context_data(
            form=form,
            start=start,
            end=end,
            rows=selectors.rep_performance(start=start, end=end),
            win_back_days=conf.win_back_days(),
        )
        return self.render_to_response(context, status=status)


class CustomerContactSettingsView(LoginRequiredMixin, PermissionRequiredMixin, TemplateView):
    """One customer's consent, preferences, own caps and booking of a contact."""

    permission_required = "contacts.view_contactpreferences"
    template_name = "contacts/customer_settings.html"
    FORMS = {
        "consent": ConsentForm,
        "preferences": PreferencesForm,
        "cap": CapOverrideForm,
        "schedule": ScheduleContactForm,
    }
    PERMISSIONS = {
        "consent": "contacts.add_consentchange",
        "preferences": "contacts.change_contactpreferences",
        "cap": "contacts.change_contactpreferences",
        "schedule": "contacts.add_touch",
    }

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            self.customer = customer_for(request.user, kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)

    def _forms(self, bound: str | None = None, data=None) -> dict:
        preferences = ContactPreferences.objects.filter(customer=self.customer).first()
        initial = {
            "preferences": {
                "preferred_channel": preferences.preferred_channel,
                "paused_until": preferences.paused_until,
                "pause_reason": preferences.pause_reason,
                "contact_from": preferences.contact_from,
                "contact_until": preferences.contact_until,
            }
            if preferences
            else {},
            "schedule": {"channel": Channel.PHONE},
        }
        return {
            name: form_class(
                data if name == bound else None, initial=initial.get(name), prefix=name
            )
            for name, form_class in self.FORMS.items()
        }

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.setdefault("forms", self._forms())
        context.update(
            customer=self.customer,
            booking_token=uuid.uuid4().hex,
            on_settings_page=True,
            **selectors.customer_contacts_context(customer=self.customer, user=self.request.user),
        )
        return context

    def post(self, request, *args, **kwargs):
        which = request.POST.get("form", "")
        if which not in self.FORMS:
            return HttpResponse(_("Unknown form."), status=400)
        if not request.user.has_perm(self.PERMISSIONS[which]):
            return HttpResponse(status=403)
        forms = self._forms(which, request.POST)
        form = forms[which]
        if form.is_valid():
            try:
                notice = getattr(self, f"_save_{which}")(form.cleaned_data)
            except DomainError as error:
                form.add_error(error.field if error.field in form.fields else None, error.message)
            else:
                messages.success(request, notice)
                return HttpResponseRedirect(
                    reverse("contacts:customer-settings", args=[self.customer.pk])
                )
        return self.render_to_response(self.get_context_data(forms=forms), status=400)

    def _save_consent(self, data) -> str:
        change = services.set_consent(
            customer_id=self.customer.pk,
            channel=data["channel"],
            granted=data["granted"],
            source=ConsentChange.Source.REP,
            by=self.request.user,
            note=data["note"],
        )
        return _("Consent recorded.") if change else _("Consent was already so; nothing changed.")

    def _save_preferences(self, data) -> str:
        services.update_preferences(customer_id=self.customer.pk, by=self.request.user, **data)
        return _("Contact preferences saved.")

    def _save_cap(self, data) -> str:
        services.set_cap_override(customer_id=self.customer.pk, by=self.request.user, **data)
        return _("The customer's cap is saved.")

    def _save_schedule(self, data) -> str:
        token = self.request.POST.get("booking_token", "")[:64] or uuid.uuid4().hex
        touch = services.schedule_contact(
            customer_id=self.customer.pk,
            channel=data["channel"],
            kind=data["kind"],
            at=data["at"],
            source=Touch.Source.REP,
            by=self.request.user,
            key=f"rep:{self.request.user.pk}:{token}",
        )
        local = timezone.localtime(touch.at)
        return _("Contact booked for %(when)s.") % {"when": f"{local:%d.%m.%Y %H:%M}"}


class CustomerScheduleContactView(
    LoginRequiredMixin, CustomerActionMixin, PermissionRequiredMixin, FormView
):
    """Books a contact from the customer page; a refusal says why and when it would be allowed."""

    permission_required = "contacts.add_touch"
    form_class = ScheduleContactForm
    partial_template_name = "contacts/_partials/schedule_form.html"

    @property
    def title(self) -> str:
        return _("Schedule a contact with %(name)s") % {"name": self.customer.name}

    def get_initial(self):
        return {"channel": Channel.PHONE, "kind": Kind.PERSONAL}

    def get_context_data(self, **kwargs):
        # A fresh key per rendering: a double-submitted form books once.
        return super().get_context_data(booking_token=uuid.uuid4().hex, **kwargs)

    def act(self, form) -> str:
        data = form.cleaned_data
        token = self.request.POST.get("booking_token", "")[:64] or uuid.uuid4().hex
        touch = services.schedule_contact(
            customer_id=self.customer.pk,
            channel=data["channel"],
            kind=data["kind"],
            at=data["at"],
            source=Touch.Source.REP,
            by=self.request.user,
            key=f"rep:{self.request.user.pk}:{token}",
        )
        return _("%(channel)s booked for %(when)s.") % {
            "channel": touch.get_channel_display(),
            "when": formats.date_format(timezone.localtime(touch.at), "SHORT_DATETIME_FORMAT"),
        }

    def form_refused(self, form, error):
        if not isinstance(error, ContactRefusedError):
            return super().form_refused(form, error)
        return self.form_invalid(form, refusal=error)


class CustomerLogCallView(LoginRequiredMixin, CustomerActionMixin, PermissionRequiredMixin, FormView):
    """Logs a call (or meeting) and its outcome from the customer page."""

    permission_required = "contacts.add_touch"
    form_class = CallOutcomeForm
    partial_template_name = "contacts/_partials/log_call_form.html"

    @property
    def title(self) -> str:
        return _("Log a call with %(name)s") % {"name": self.customer.name}

    def act(self, form) -> str:
        data = form.cleaned_data
        touch = services.log_call_outcome(
            customer_id=self.customer.pk,
            by=self.request.user,
            outcome=data["outcome"],
            channel=data["channel"],
            notes=data["notes"],
            callback_at=data["callback_at"],
            leave_reason=data["leave_reason"],
        )
        return _("Logged: %(outcome)s.") % {"outcome": touch.get_outcome_display()}


@method_decorator(csrf_exempt, name="dispatch")
class UnsubscribeView(View):
    """The signed link in every message: opting out needs no login.

    GET asks for confirmation (mail scanners follow links and must not unsubscribe anyone); POST
    records it, and also serves RFC 8058 one-click unsubscribe from mail clients, which send no
    CSRF token: the signed token is what authorises the request.
    """

    template_name = "contacts/unsubscribe.html"

    def _read(self, token: str):
        try:
            return read_unsubscribe_token(token)
        except signing.BadSignature:
            return None

    def get(self, request, token: str):
        found = self._read(token)
        if found is None:
            return render(request, self.template_name, {"invalid": True}, status=400)
        return render(
            request, self.template_name, {"channel": Channel(found[1]).label, "token": token}
        )

    def post(self, request, token: str):
        found = self._read(token)
        if found is None:
            return render(request, self.template_name, {"invalid": True}, status=400)
        customer_id, channel = found
        try:
            services.set_consent(
                customer_id=customer_id,
                channel=channel,
                granted=False,
                source=ConsentChange.Source.UNSUBSCRIBE_LINK,
            )
        except Customer.DoesNotExist as error:
            raise Http404 from error
        return render(
            request, self.template_name, {"done": True, "channel": Channel(channel).label}
        )


class FeedbackView(View):
    """The survey page, opened from the signed link in the message, without logging in."""

    template_name = "contacts/feedback.html"

    def _feedback(self, token: str) -> Feedback:
        try:
            feedback_id = read_feedback_token(token)
        except signing.BadSignature as error:
            raise Http404 from error
        return get_object_or_404(Feedback, pk=feedback_id)

    def get(self, request, token: str):
        feedback = self._feedback(token)
        return render(
            request,
            self.template_name,
            {
                "feedback": feedback,
                "form": FeedbackForm(),
                "answered": feedback.answered_at is not None,
            },
        )

    def post(self, request, token: str):
        feedback = self._feedback(token)
        form = FeedbackForm(request.POST)
        if form.is_valid():
            try:
                services.record_feedback(
                    feedback_id=feedback.pk,
                    score=form.cleaned_data["score"],
                    comment=form.cleaned_data["comment"],
                    reasons=form.cleaned_data["reasons"],
                )
            except DomainError as error:
                form.add_error(error.field if error.field in form.fields else None, error.message)
            else:
                return render(
                    request,
                    self.template_name,
                    {"feedback": feedback, "answered": True, "thanks": True},
                )
        return render(request, self.template_name, {"feedback": feedback, "form": form}, status=400)
