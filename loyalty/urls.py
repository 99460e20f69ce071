from django.urls import path

from . import views

app_name = "loyalty"

urlpatterns = [
    path("customers/<int:customer_id>/redeem/", views.RedeemRewardView.as_view(), name="redeem"),
    path("customers/<int:customer_id>/ledger/", views.CustomerLedgerView.as_view(), name="ledger"),
    path(
        "redemptions/<int:pk>/cancel/",
        views.RedemptionCancelView.as_view(),
        name="cancel-redemption",
    ),
    path("reports/", views.LoyaltyReportView.as_view(), name="reports"),
    path(
        "customers/<int:customer_id>/member-links/revoke/",
        views.MemberLinksRevokeView.as_view(),
        name="revoke-member-links",
    ),
    path("member/<str:token>/", views.MemberPageView.as_view(), name="member"),
]
