"""ASGI entry: daphne serves HTTP and the WebSocket stream."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

# Django must be set up before anything imports models.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from realtime.auth import TokenOrOriginValidator, TokenOrSessionAuthMiddleware  # noqa: E402
from realtime.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": TokenOrOriginValidator(TokenOrSessionAuthMiddleware(URLRouter(websocket_urlpatterns))),
    }
)

# Embedded default: no broker and no beat, so this process runs the periodic sweep itself.
from dispatch.sweeper import start_in_process_sweeps  # noqa: E402

start_in_process_sweeps()

# Under daphne, Django (not Twisted) reads form bodies (config/http_server.py says why).
from config.http_server import install as leave_form_bodies_to_django  # noqa: E402

leave_form_bodies_to_django()

# Last, once everything the process keeps for good exists: the stream's fast path, if asked for
# and its internals check out (realtime/fastpath.py).
from realtime.fastpath import install_in_process  # noqa: E402

install_in_process()
