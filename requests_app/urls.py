from django.urls import path, re_path

import common.converters  # noqa: F401 - registers <id:…>

from . import views

order_wizard = views.OrderWizard.as_view(url_name="order-step", done_step_name="done")

urlpatterns = [
    path("", views.home, name="home"),
    re_path(r"^order/(?P<step>[a-z]+)/$", order_wizard, name="order-step"),
    path("order/", order_wizard, name="order-start"),
    path("orders/", views.my_orders, name="my-orders"),
    path("orders/<id:order_id>/", views.order_page, name="citizen-order"),
    path("orders/<id:order_id>/live/", views.order_live, name="citizen-order-live"),
    path("orders/<id:order_id>/cancel/", views.order_cancel_view, name="citizen-order-cancel"),
    path("orders/<id:order_id>/rate/", views.order_rate, name="citizen-order-rate"),
    path("orders/<id:order_id>/again/", views.order_again, name="citizen-order-again"),
]
