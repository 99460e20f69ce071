from django.urls import path

from . import views

app_name = "contacts"

urlpatterns = [
    path("call-list/", views.CallListView.as_view(), name="call-list"),
    path("call-list/<int:customer_id>/log/", views.CallOutcomeView.as_view(), name="log-outcome"),
    path("key-accounts/", views.KeyAccountWatchView.as_view(), name="key-accounts"),
    path("performance/", views.RepPerformanceView.as_view(), name="performance"),
    path(
        "customers/<int:pk>/",
        views.CustomerContactSettingsView.as_view(),
        name="customer-settings",
    ),
    path(
        "customers/<int:pk>/schedule/",
        views.CustomerScheduleContactView.as_view(),
        name="customer-schedule",
    ),
    path("customers/<int:pk>/log-call/", views.CustomerLogCallView.as_view(), name="customer-log-call"),
    path("unsubscribe/<str:token>/", views.UnsubscribeView.as_view(), name="unsubscribe"),
    path("feedback/<str:token>/", views.FeedbackView.as_view(), name="feedback"),
]
