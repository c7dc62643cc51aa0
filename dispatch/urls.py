from django.urls import path

import common.converters  # noqa: F401 - registers <id:…>

from . import views

urlpatterns = [
    path("", views.console, name="console"),
    path("queue/", views.queue_part, name="console-queue"),
    path("orders/<id:order_id>/", views.console, name="console-order"),
    path("orders/<id:order_id>/panel/", views.order_part, name="console-order-panel"),
    path("orders/<id:order_id>/dispatch/", views.dispatch_order, name="console-dispatch"),
    path("orders/<id:order_id>/recall/", views.recall, name="console-recall"),
    path("orders/<id:order_id>/reject/", views.reject, name="console-reject"),
    path("orders/<id:order_id>/cancel/", views.cancel, name="console-cancel"),
    path("place/", views.place_for_citizen, name="console-place"),
]
