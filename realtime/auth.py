"""WebSocket authentication: the session cookie (pages) or `?token=` (phones)."""

from urllib.parse import parse_qs

from channels.auth import AuthMiddleware
from channels.db import database_sync_to_async
from channels.security.websocket import AllowedHostsOriginValidator
from channels.sessions import CookieMiddleware, InstanceSessionWrapper, SessionMiddleware
from django.contrib.auth.models import AnonymousUser


@database_sync_to_async
def _user_for_token(key: str):
    from rest_framework.authtoken.models import Token

    token = Token.objects.select_related("user").filter(key=key).first()
    return token.user if token and token.user.is_active else AnonymousUser()


class _TokenMiddleware:
    def __init__(self, inner) -> None:
        self.inner = inner

    async def __call__(self, scope, receive, send):
        params = parse_qs(scope.get("query_string", b"").decode())
        if "token" in params:
            scope = dict(scope, user=await _user_for_token(params["token"][0]))
        return await self.inner(scope, receive, send)


class _StreamSessionMiddleware(SessionMiddleware):
    """Channels' SessionMiddleware, handing the application the server's own `send`.

    Its wrapper's `send` saves the session on an `http.response.start`, which a WebSocket
    never sends, but it read the session's `modified` and `is_empty()` through Django's
    lazy object first on every send: about 5 µs of a live delivery's ~60 in
    bench/push.py. The session is still resolved for the user's login, as before.
    """

    async def __call__(self, scope, receive, send):
        wrapper = InstanceSessionWrapper(scope, send)
        await wrapper.resolve_session()
        return await self.inner(wrapper.scope, receive, send)


def TokenOrSessionAuthMiddleware(inner):  # noqa: N802 - named like the Channels stacks it wraps
    """Channels' AuthMiddlewareStack (the session's user), with `?token=` taking precedence."""
    return CookieMiddleware(_StreamSessionMiddleware(AuthMiddleware(_TokenMiddleware(inner))))


def _has_token(scope) -> bool:
    return "token" in parse_qs(scope.get("query_string", b"").decode())


def _has_origin(scope) -> bool:
    return any(name == b"origin" for name, _value in scope.get("headers", []))


def TokenOrOriginValidator(inner):  # noqa: N802 - named like the Channels validator it wraps
    """Channels' origin check, except for a connection that brings a token and no Origin.

    The origin check keeps other sites from riding on a browser's session cookie, and every
    browser sends an Origin; phone apps and most client libraries send none, and a token
    proves itself (a wrong one is closed like any anonymous connection).
    """
    checked = AllowedHostsOriginValidator(inner)

    async def validate(scope, receive, send):
        if _has_token(scope) and not _has_origin(scope):
            return await inner(scope, receive, send)
        return await checked(scope, receive, send)

    return validate
