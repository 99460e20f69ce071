from django.http import HttpRequest

from .roles import is_loyalty_admin, is_manager, is_rep


def roles(request: HttpRequest) -> dict[str, bool]:
    """Role flags for the navigation bar."""
    user = getattr(request, "user", None)
    return {
        "is_manager": is_manager(user),
        "is_rep": is_rep(user),
        "is_loyalty_admin": is_loyalty_admin(user),
    }
