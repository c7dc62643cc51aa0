from django.contrib import admin

from common.admin import ReadOnlyAdminMixin

from .models import Certificate, ExportJob, Signatory


@admin.register(Certificate)
class CertificateAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Issued certificates are records: they are never edited."""

    list_display = ["number", "volunteer", "date_from", "date_to", "hours", "issuer", "issued_at"]
    search_fields = ["number", "volunteer__real_name", "volunteer__number"]
    date_hierarchy = "issued_at"
    raw_id_fields = ["volunteer", "issuer", "requested_by"]


@admin.register(Signatory)
class SignatoryAdmin(admin.ModelAdmin):
    """Who signs a unit's certificates (person in charge, handler, telephone)."""

    list_display = ["unit", "head", "handler", "phone"]
    autocomplete_fields = ["unit"]


@admin.register(ExportJob)
class ExportJobAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Exports are asked for on the console or the API and written by a worker."""

    list_display = ["created_at", "user", "kind", "ext", "unit", "state", "rows"]
    list_filter = ["state", "kind", "ext"]
    raw_id_fields = ["user", "unit"]
