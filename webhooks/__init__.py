"""Webhooks: events of the customer base and the points programme POSTed to configured URLs.

See webhooks/README.md for the events, the body and how to check the signature.
"""
