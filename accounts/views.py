"""The sign-in page (a code sent to the phone, or a password), sign-out and the 长辈版 switch."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.forms import Form
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from common.errors import DomainError
from common.pages import show_errors

from . import services
from .context import ELDER_COOKIE
from .forms import CodeForm, PasswordForm, PhoneForm


def _next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or "/"
    safe = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if safe else "/"


def signin(request: HttpRequest) -> HttpResponse:
    """Step 1: the phone number, a code is sent. Step 2: the code. Or phone and password."""
    with_password = request.GET.get("with") == "password" or request.POST.get("with") == "password"
    step = "phone"
    form: Form = PasswordForm() if with_password else PhoneForm()
    if request.method == "POST":
        action = request.POST.get("action")
        if with_password:
            form = PasswordForm(request.POST)
            if form.is_valid():
                try:
                    user = services.signin_with_password(request=request, **form.cleaned_data)
                except DomainError as error:
                    show_errors(form, error)
                else:
                    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
                    return redirect(_next(request))
        elif action == "send":
            form = PhoneForm(request.POST)
            if form.is_valid():
                phone = form.cleaned_data["phone"]
                try:
                    services.signin_code_send(phone=phone, address=request.META.get("REMOTE_ADDR"))
                except DomainError as error:
                    if error.code != "rate_limited":
                        show_errors(form, error)
                    else:
                        # A code sent a moment ago may still be on its way: say so, and ask for it.
                        messages.error(request, error.detail)
                        step, form = "code", CodeForm(initial={"phone": phone})
                else:
                    minutes = int(settings.SIGNIN_CODE_TTL.total_seconds() // 60)
                    messages.success(
                        request,
                        _("A 6-digit code was sent to your phone. It expires in %(m)d minutes.") % {"m": minutes},
                    )
                    step, form = "code", CodeForm(initial={"phone": phone})
        else:
            step = "code"
            form = CodeForm(request.POST)
            if form.is_valid():
                try:
                    user = services.signin_with_code(**form.cleaned_data)
                except DomainError as error:
                    show_errors(form, error)
                else:
                    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
                    return redirect(_next(request))
    context = {"form": form, "step": step, "with_password": with_password, "next": _next(request)}
    return render(request, "accounts/signin.html", context)


@require_POST
def signout(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("/")


@require_POST
def elder_mode(request: HttpRequest) -> HttpResponse:
    response = HttpResponseRedirect(_next(request))
    if request.POST.get("elder") == "1":
        response.set_cookie(ELDER_COOKIE, "1", max_age=10 * 365 * 24 * 3600, samesite="Lax")
    else:
        response.delete_cookie(ELDER_COOKIE, samesite="Lax")
    return response
