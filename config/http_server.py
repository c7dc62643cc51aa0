"""daphne's HTTP requests without Twisted's own parsing of form bodies.

Twisted's Request parses every multipart POST body itself before daphne hands the request to
Django, answers a malformed one with a bare 400 (no body, no type) that the API's JSON error
format never reaches, and keeps a second, decoded copy of every upload while it does. Twisted's
Request takes `parsePOSTFormSubmission=False` for exactly this (a public argument); daphne
builds its requests from the module attribute `daphne.http_protocol.WebRequest`, and that one
attribute is the only private thing this module touches. Without it, the server runs as daphne
ships, with one warning.
"""

import inspect
import logging

from twisted.web import http

logger = logging.getLogger(__name__)

_installed = False


def install() -> None:
    """Make daphne's requests leave form bodies to Django (idempotent)."""
    global _installed
    if _installed:
        return
    from daphne import http_protocol

    base = getattr(http_protocol, "WebRequest", None)
    takes_flag = "parsePOSTFormSubmission" in inspect.signature(http.Request.__init__).parameters
    if not (isinstance(base, type) and issubclass(base, http.Request) and takes_flag):
        logger.warning(
            "daphne.http_protocol.WebRequest or Twisted's parsePOSTFormSubmission is missing: Twisted parses "
            "form bodies itself, and a malformed multipart body gets its bare 400 instead of the API's JSON"
        )
        return

    class WebRequest(base):  # type: ignore[valid-type,misc]  # the base is found at start-up
        def __init__(self, *args, **kwargs) -> None:
            kwargs.setdefault("parsePOSTFormSubmission", False)
            super().__init__(*args, **kwargs)

    http_protocol.WebRequest = WebRequest
    _installed = True
