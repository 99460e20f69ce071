"""The customer base's REST API; the viewsets are registered on the router in retention/api.py."""
