"""Celery tasks: the periodic job sweep (scheduled by lenme.celery's beat entry)."""

from celery import shared_task


@shared_task(name="loans.tasks.sweep", ignore_result=True)
def sweep() -> dict:
    from loans.jobs import sweep as run_sweep

    return run_sweep().counts
