"""Domain errors raised by services; `config.api.exception_handler` maps them to JSON."""

from typing import Any


class DomainError(Exception):
    status = 400
    code = "invalid"

    def __init__(self, detail: str, *, code: str | None = None, fields: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = str(detail)
        if code:
            self.code = code
        self.fields = fields or {}

    def in_words(self) -> str:
        """The detail and each field's problem as one sentence, for a page's message line."""
        problems = [str(p) for ps in self.fields.values() for p in (ps if isinstance(ps, list) else [ps])]
        return " ".join([self.detail, *problems])


class InvalidInput(DomainError):
    """400: the request names something impossible; `fields` says which."""


class Forbidden(DomainError):
    status = 403
    code = "permission_denied"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class InvalidTransition(DomainError):
    """409: the order's or offer's state forbids this action."""

    status = 409
    code = "invalid_transition"


class Conflict(DomainError):
    """409: a race was lost, or a resource is in use."""

    status = 409
    code = "conflict"


class PayloadTooLarge(DomainError):
    status = 413
    code = "payload_too_large"


class RateLimited(DomainError):
    """429: asked too often; `retry_after` says when to ask again."""

    status = 429
    code = "rate_limited"

    def __init__(self, detail: str, *, retry_after: int, fields: dict[str, Any] | None = None) -> None:
        super().__init__(detail, fields=fields)
        self.retry_after = retry_after
