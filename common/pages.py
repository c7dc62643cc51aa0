"""What the HTML views of every app share: the signed-in account, a service's refusal shown on a form."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User as Account
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from .errors import DomainError

View = Callable[..., HttpResponse]


def signed_in(request: HttpRequest) -> Account:
    """The account of a view behind login_required."""
    user = request.user
    assert isinstance(user, Account), "the view must require a signed-in user"
    return user


def show_errors(form: Form, error: DomainError) -> None:
    """A service's refusal, beside the fields it names (or above the form)."""
    placed = False
    for field, problems in error.fields.items():
        if field in form.fields:
            for problem in problems if isinstance(problems, list) else [problems]:
                form.add_error(field, str(problem))
            placed = True
    if not placed:
        form.add_error(None, error.detail)


def page_for(allowed: Callable[[Account], bool], refused: str) -> Callable[[View], View]:
    """A page for signed-in users who pass `allowed`; others get the `refused` template (403)."""

    def decorator(view: View) -> View:
        @login_required
        @wraps(view)
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not allowed(signed_in(request)):
                return render(request, refused, status=403)
            return view(request, *args, **kwargs)

        return guarded

    return decorator
