from celery import shared_task

from . import jobs


@shared_task(acks_late=True)
def export_run(job_id: int) -> None:
    jobs.export_build(job_id=job_id)


@shared_task
def exports_resend() -> None:
    jobs.exports_resend()
