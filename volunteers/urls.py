from django.urls import path

import common.converters  # noqa: F401 - registers <id:…>

from . import ledger_views, views

urlpatterns = [
    path("", views.workspace, name="team-home"),
    path("offers/", views.offers_part, name="team-offers"),
    path("offers/<id:offer_id>/accept/", views.accept, name="team-offer-accept"),
    path("offers/<id:offer_id>/decline/", views.decline, name="team-offer-decline"),
    path("orders/<id:order_id>/", views.order_page, name="team-order"),
    path("orders/<id:order_id>/start/", views.start, name="team-order-start"),
    path("orders/<id:order_id>/complete/", views.complete, name="team-order-complete"),
    path("history/", views.history, name="team-history"),
    path("record/", ledger_views.my_ledger, name="team-my-ledger"),
    path("volunteers/<id:volunteer_id>/", ledger_views.ledger_page, name="team-ledger"),
    path("volunteers/<id:volunteer_id>/add/", ledger_views.ledger_add, name="team-ledger-add"),
    path("volunteers/<id:volunteer_id>/certificate/", ledger_views.certificate_request, name="team-certificate"),
    path("records/<id:record_id>/correction/", ledger_views.ledger_correct, name="team-ledger-correct"),
    path("offline/", views.offline, name="team-offline"),
    path("manifest.webmanifest", views.manifest, name="team-manifest"),
    path("sw.js", views.service_worker, name="team-sw"),
]
