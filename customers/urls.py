from django.urls import path

from . import audit_views, import_views, privacy_views, views

app_name = "customers"

urlpatterns = [
    path("", views.CustomerListView.as_view(), name="list"),
    path("export.csv", views.CustomerExportView.as_view(), name="export"),
    path("new/", views.CustomerCreateView.as_view(), name="create"),
    path("reassign/", views.CustomerReassignView.as_view(), name="reassign"),
    path("segmentation/", views.SegmentationView.as_view(), name="segmentation"),
    path("<int:pk>/", views.CustomerDetailView.as_view(), name="detail"),
    path("<int:pk>/edit/", views.CustomerUpdateView.as_view(), name="update"),
    path("<int:pk>/reassign/", views.CustomerReassignOneView.as_view(), name="reassign-one"),
    path("<int:pk>/purchases/new/", views.PurchaseCreateView.as_view(), name="purchase-create"),
    path("imports/", import_views.ImportListView.as_view(), name="import-list"),
    path("imports/<int:pk>/", import_views.ImportDetailView.as_view(), name="import-detail"),
    path(
        "imports/<int:pk>/progress/",
        import_views.ImportProgressView.as_view(),
        name="import-progress",
    ),
    path(
        "imports/<int:pk>/errors.csv",
        import_views.ImportErrorsDownloadView.as_view(),
        name="import-errors",
    ),
    path(
        "<int:pk>/personal-data.json",
        privacy_views.CustomerDataExportView.as_view(),
        name="personal-data",
    ),
    path("<int:pk>/erase/", privacy_views.CustomerEraseView.as_view(), name="erase"),
    path("audit/", audit_views.AuditEventListView.as_view(), name="audit"),
]
