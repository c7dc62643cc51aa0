from django.urls import path

from . import views

urlpatterns = [
    path("", views.workspace, name="team-home"),
    path("offers/", views.offers_part, name="team-offers"),
    path("offers/<int:offer_id>/accept/", views.accept, name="team-offer-accept"),
    path("offers/<int:offer_id>/decline/", views.decline, name="team-offer-decline"),
    path("orders/<int:order_id>/", views.order_page, name="team-order"),
    path("orders/<int:order_id>/start/", views.start, name="team-order-start"),
    path("orders/<int:order_id>/complete/", views.complete, name="team-order-complete"),
    path("history/", views.history, name="team-history"),
    path("offline/", views.offline, name="team-offline"),
    path("manifest.webmanifest", views.manifest, name="team-manifest"),
    path("sw.js", views.service_worker, name="team-sw"),
]
