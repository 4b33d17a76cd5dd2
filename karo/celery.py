"""The Celery application: `celery -A karo worker` runs the background work (the daily close's
chunks, and what later joins it) on as many machines as needed.

Configuration is the `CELERY_*` block of karo/settings.py. Without `CELERY_BROKER_URL` every
task runs in the calling process (`task_always_eager`), so `make run` needs no broker.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "karo.settings")

app = Celery("karo")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
