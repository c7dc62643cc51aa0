"""The OpenAPI schema says what the server does, its errors included."""

import io

import pytest
import yaml
from django.core.management import call_command

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema() -> dict:
    out = io.StringIO()
    # --fail-on-warn: a view the generator cannot read fails here, not in a client's code generator.
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    return yaml.safe_load(out.getvalue())


def operation(schema: dict, path: str, method: str = "get") -> dict:
    return schema["paths"][path][method]


def ok_schema(op: dict) -> dict:
    return op["responses"]["200"]["content"]["application/json"]["schema"]


def test_candidates_are_a_list_or_with_explain_an_object(schema):
    ref = ok_schema(operation(schema, "/api/v1/orders/{id}/candidates/"))["$ref"].rsplit("/", 1)[-1]

    variants = schema["components"]["schemas"][ref]["oneOf"]

    assert {"type": "array", "items": {"$ref": "#/components/schemas/Candidate"}} in variants
    assert {"$ref": "#/components/schemas/Match"} in variants


def test_events_are_a_list(schema):
    assert ok_schema(operation(schema, "/api/v1/orders/{id}/events/"))["type"] == "array"


def test_a_teams_service_hours_are_local_times_not_openapi_times(schema):
    team = schema["components"]["schemas"]["Team"]["properties"]

    for name in ("available_from", "available_to"):
        assert "format" not in team[name]
        assert team[name]["pattern"].startswith("^")


def test_every_operation_documents_its_error_answers_in_the_error_format(schema):
    for path, operations in schema["paths"].items():
        for method, op in operations.items():
            responses = op["responses"]
            assert {"401", "403"} <= set(responses), (method, path)
            if "{" in path:
                assert "404" in responses, (method, path)
            if method == "post":
                assert {"400", "413", "415"} <= set(responses), (method, path)
            error = responses["403"]["content"]["application/json"]["schema"]
            assert error == {"$ref": "#/components/schemas/Error"}


def test_the_throttled_operations_document_429(schema):
    assert "429" in operation(schema, "/api/v1/auth/token/", "post")["responses"]
    assert "429" in operation(schema, "/api/v1/orders/", "post")["responses"]
