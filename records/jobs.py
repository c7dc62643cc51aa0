"""Exports as background jobs: asked for on a page or the API, written by a Celery worker, downloaded when ready.

A province's year of ledger entries takes minutes to write as XLSX, longer than a web request
may last; the job reports its progress on the requester's stream while it runs.
"""

import tempfile
import time
from datetime import date
from typing import IO

from django.conf import settings
from django.contrib.auth.models import User as Account
from django.core.files import File
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from common.errors import InvalidInput, NotFound
from dispatch import outbox
from realtime import events
from realtime import groups as g

from .exports import FORMATS, KINDS, Export, Scope, csv_lines, export_for, export_scope, file_name, xlsx_file
from .models import ExportJob

PROGRESS_EVERY_S = 2.0


def export_request(
    *, user: Account, kind: str, ext: str, unit_id: int | None, date_from: date | None, date_to: date | None
) -> ExportJob:
    """Check the request as the export itself would, keep it as a job and hand it to a worker after commit."""
    errors: dict[str, list[str]] = {}
    if kind not in KINDS:
        errors["kind"] = [_("One of: %(kinds)s.") % {"kinds": ", ".join(KINDS)}]
    if ext not in FORMATS:
        errors["format"] = [_("One of: %(formats)s.") % {"formats": ", ".join(FORMATS)}]
    if errors:
        raise InvalidInput(_("Nothing was exported."), fields=errors)
    scope = export_scope(user=user, unit_id=unit_id, date_from=date_from, date_to=date_to)
    with transaction.atomic():
        job = ExportJob.objects.create(
            user=user, kind=kind, ext=ext, unit=scope.unit, date_from=scope.date_from, date_to=scope.date_to
        )
        outbox.enqueue_after_commit("records.tasks.export_run", job.pk)
    return job


def exports_resend() -> list[int]:
    """Jobs still queued long after they were asked for (a task message lost on the way): send them again.

    A job is written once however often it is sent (export_build starts only a queued job).
    """
    stale = ExportJob.objects.filter(state="queued", created_at__lt=timezone.now() - settings.EXPORT_RESEND_AFTER)
    ids = list(stale.values_list("pk", flat=True)[:100])
    for job_id in ids:
        outbox.enqueue("records.tasks.export_run", job_id)
    return ids


def export_build(*, job_id: int) -> ExportJob:
    """Write the job's file, telling the requester how far it got; a failure is kept on the job."""
    with transaction.atomic():
        job = ExportJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None:
            raise NotFound(_("Export %(id)s does not exist.") % {"id": job_id})
        if job.state != "queued":
            return job  # delivered twice: the first run owns it
        job.start()
        job.save()
    scope = Scope(job.unit, job.date_from, job.date_to)
    reporter = _Progress(job)
    try:
        export = export_for(job.kind, scope)
        out = xlsx_file(export, reporter) if job.ext == "xlsx" else _csv_file(export, reporter)
        with out:
            job.file.save(file_name(export, scope, job.ext), File(out), save=False)
    except Exception as exc:  # the job must end, whatever went wrong; the worker logs the trace
        job.error = str(exc)[:1000]
        job.fail()
        job.save()
        _tell(job, "export.failed")
        raise
    job.rows = reporter.rows
    job.finish()
    job.save()
    _tell(job, "export.done")
    return job


def _csv_file(export: Export, progress: "_Progress") -> IO[bytes]:
    out = tempfile.TemporaryFile()  # noqa: SIM115 - returned open, closed by the caller
    lines = csv_lines(export)
    for n, line in enumerate(lines):
        out.write(line.encode("utf-8"))
        progress(n)
    out.seek(0)
    return out


class _Progress:
    """Counts rows and publishes `export.progress` at most every couple of seconds."""

    def __init__(self, job: ExportJob) -> None:
        self.job, self.rows, self.told = job, 0, time.monotonic()

    def __call__(self, rows: int) -> None:
        self.rows = rows
        if time.monotonic() - self.told >= PROGRESS_EVERY_S:
            self.told = time.monotonic()
            ExportJob.objects.filter(pk=self.job.pk).update(rows=rows)
            self.job.rows = rows
            _tell(self.job, "export.progress")


def _tell(job: ExportJob, kind: str) -> None:
    with transaction.atomic():
        events.publish([g.user(job.user_id)], kind, {"export": job.pk, "state": job.state, "rows": job.rows})


def job_of(user: Account, job_id: int) -> ExportJob:
    job = ExportJob.objects.filter(pk=job_id).first()
    if job is None or (job.user_id != user.pk and not user.is_superuser):
        raise NotFound(_("Export %(id)s does not exist.") % {"id": job_id})
    return job
