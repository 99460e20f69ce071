from django.urls import path

from . import views

app_name = "customers"

urlpatterns = [
    path("", views.CustomerListView.as_view(), name="list"),
    path("export.csv", views.CustomerExportView.as_view(), name="export"),
    path("new/", views.CustomerCreateView.as_view(), name="create"),
    path("reassign/", views.CustomerReassignView.as_view(), name="reassign"),
    path("<int:pk>/", views.CustomerDetailView.as_view(), name="detail"),
    path("<int:pk>/edit/", views.CustomerUpdateView.as_view(), name="update"),
    path("<int:pk>/purchases/new/", views.PurchaseCreateView.as_view(), name="purchase-create"),
]
