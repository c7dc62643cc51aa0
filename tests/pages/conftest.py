import pytest
from django.test import Client


@pytest.fixture
def browser_for():
    """A plain HTTP client (no JavaScript) signed in as the user."""

    def open_for(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return open_for
