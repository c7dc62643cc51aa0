from django.urls import path

import common.converters  # noqa: F401 - registers <id:…>

from . import views

urlpatterns = [
    path("records/", views.decisions, name="console-records"),
    path("records/<id:record_id>/decide/", views.decide, name="console-record-decide"),
    path("exports/", views.exports_page, name="console-exports"),
]
