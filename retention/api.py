"""The REST API under /api/v1/: one router for every app's viewsets, the schema and its docs.

Each app keeps its viewsets in `<app>/api/views.py` and registers them here, so the API root
lists everything and the schema covers everything.
"""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from common.jobs_api import JobRunViewSet
from contacts.api import views as contacts_api
from customers.api import views as customers_api
from loyalty.api import views as loyalty_api

router = DefaultRouter()
router.register("customers", customers_api.CustomerViewSet, basename="customer")
router.register("purchases", customers_api.PurchaseViewSet, basename="purchase")
router.register("refunds", customers_api.RefundViewSet, basename="refund")
router.register("scores", customers_api.ScoreViewSet, basename="score")
router.register("scoring-runs", customers_api.ScoringRunViewSet, basename="scoring-run")
router.register("call-list", contacts_api.CallListViewSet, basename="call-list")
router.register("contacts", contacts_api.ContactLogViewSet, basename="contact")
router.register("contact-bookings", contacts_api.ContactBookingViewSet, basename="contact-booking")
router.register("loyalty/accounts", loyalty_api.LoyaltyAccountViewSet, basename="loyalty-account")
router.register("loyalty/ledger", loyalty_api.LedgerEntryViewSet, basename="ledger-entry")
router.register("loyalty/tiers", loyalty_api.TierViewSet, basename="tier")
router.register("loyalty/rewards", loyalty_api.RewardViewSet, basename="reward")
router.register("loyalty/redemptions", loyalty_api.RedemptionViewSet, basename="redemption")
router.register("job-runs", JobRunViewSet, basename="job-run")

urlpatterns = [
    path("v1/", include(router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("schema/swagger/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("schema/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
]
