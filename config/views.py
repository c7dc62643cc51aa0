from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def home(request: HttpRequest) -> HttpResponse:
    """A landing page that points each kind of user to their door."""
    return render(request, "home.html")
