from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import views
from .dashboard import (
    DashboardActivityView,
    DashboardLiabilityView,
    DashboardRepsView,
    DashboardView,
)

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", views.HomeView.as_view(), name="home"),
    path("dashboard/", DashboardView.as_view(), name="dashboard"),
    path("dashboard/reps/", DashboardRepsView.as_view(), name="dashboard-reps"),
    path("dashboard/activity/", DashboardActivityView.as_view(), name="dashboard-activity"),
    path("dashboard/liability/", DashboardLiabilityView.as_view(), name="dashboard-liability"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "customers/<int:pk>/panels/loyalty/",
        views.CustomerPanelView.as_view(),
        {"name": "loyalty"},
        name="customer-loyalty-panel",
    ),
    path(
        "customers/<int:pk>/panels/contacts/",
        views.CustomerPanelView.as_view(),
        {"name": "contacts"},
        name="customer-contacts-panel",
    ),
    path("customers/", include("customers.urls")),
    path("contacts/", include("contacts.urls")),
    path("loyalty/", include("loyalty.urls")),
    path("api/", include("retention.api")),
    path("admin/", admin.site.urls),
]
