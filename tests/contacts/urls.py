"""The project's URLs plus contacts', until retention/urls.py includes them itself."""

from django.urls import include, path

from retention.urls import urlpatterns as project_urlpatterns

_mounted = any(getattr(pattern, "namespace", None) == "contacts" for pattern in project_urlpatterns)

urlpatterns = [*project_urlpatterns]
if not _mounted:
    urlpatterns.append(path("contacts/", include("contacts.urls")))
