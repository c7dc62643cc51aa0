"""What the HTML views of every app share: the signed-in account, a service's refusal shown on a form."""

from django.contrib.auth.models import User as Account
from django.forms import Form
from django.http import HttpRequest

from .errors import DomainError


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
