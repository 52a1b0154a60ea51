"""Celery app: broker from CELERY_BROKER_URL; beat runs the job sweep every LENME_SWEEP_SECONDS."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lenme.settings")

app = Celery("lenme")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_finalize.connect
def _schedule_sweep(sender: Celery, **_kwargs) -> None:
    from django.conf import settings

    sender.add_periodic_task(
        float(settings.LENME_SWEEP_SECONDS), sender.signature("loans.tasks.sweep"), name="lenme sweep"
    )
