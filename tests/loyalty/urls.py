"""The project's URLs plus the loyalty app's, for tests run before retention/urls.py includes them."""

from django.urls import include, path

from retention.urls import urlpatterns as project_patterns

_included = any(getattr(pattern, "namespace", None) == "loyalty" for pattern in project_patterns)

urlpatterns = (
    list(project_patterns)
    if _included
    else [*project_patterns, path("loyalty/", include("loyalty.urls"))]
)
