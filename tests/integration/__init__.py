"""Tests against real servers: PostgreSQL, Redis, Celery workers, gunicorn.

The fault tests (issue 9, item 6), each on throwaway servers or its own database so that stopping
one cannot disturb the rest of the suite, and each bounded in time:

- PostgreSQL crashing mid CSV purchase import, then the re-run: test_postgres_restart.py
  (a throwaway cluster, postgres_server.py);
- Redis (cache and broker) stopped and started while purchases are recorded through the API and
  the browser and messages are queued: test_broker_down.py (a throwaway Redis, redis_server.py);
- a Celery worker killed mid-chunk, the job finished by another worker, every customer scored
  once and no message sent twice: test_nightly_celery.py::
  test_a_worker_killed_mid_rescore_is_replaced_and_every_customer_is_scored_once.
"""
