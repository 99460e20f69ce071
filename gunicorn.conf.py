"""gunicorn's settings file, read from the working directory by the web command in
docker-compose.yml (command-line flags there take precedence)."""

import gc


def post_worker_init(worker):
    # Each worker has imported the application by now: its modules, settings, URL patterns and
    # templates live as long as the process. Frozen, they are no longer walked by every garbage
    # collection, which then only looks at what requests allocate.
    gc.freeze()
