"""What `make run` serves, asked over real HTTP of a real daphne: DEBUG off, static files served,
and every answer under /api/ in the JSON error format, even for a body daphne's HTTP layer reads."""

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from ..realtime.processes import DAPHNE, ROOT, free_port, port_open, wait_until


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("live")
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_DEBUG")},
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": f"sqlite:///{tmp / 'live.sqlite3'}",
        "STATIC_ROOT": str(tmp / "static"),
        "MEDIA_ROOT": str(tmp / "media"),
    }
    for command in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True, capture_output=True)
    port = free_port()
    process = subprocess.Popen(
        [str(DAPHNE), "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: port_open(port), what="daphne to listen")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)


def fetch(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, str, bytes]:
    request = urllib.request.Request(url, data=data, headers=headers or {}, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read()


@pytest.mark.parametrize(
    "body",
    [b"--c637--\r\n", b"no boundary at all", b"--c637\r\nContent-Disposition: form-data\r\n\r\nx"],
    ids=["only-the-closing-boundary", "garbage", "unterminated"],
)
def test_a_malformed_multipart_body_gets_the_json_error_format(server, body):
    status, kind, answer = fetch(
        f"{server}/api/v1/auth/token/", body, {"Content-Type": "multipart/form-data; boundary=c637"}
    )

    assert status == 400
    assert kind.startswith("application/json")
    assert set(json.loads(answer)) == {"code", "detail", "fields"}


def test_a_multipart_body_without_a_boundary_gets_the_json_error_format(server):
    status, kind, answer = fetch(f"{server}/api/v1/auth/token/", b"x", {"Content-Type": "multipart/form-data"})

    assert (status, json.loads(answer)["code"]) == (400, "malformed_request")


def test_an_unknown_api_address_is_a_json_404(server):
    for path in ("/api/v1/orders/null/start/", "/api/v1/no-such-thing/"):
        status, kind, answer = fetch(f"{server}{path}")
        assert (status, kind, json.loads(answer)["code"]) == (404, "application/json", "not_found")


def test_it_serves_with_debug_off(server):
    status, kind, answer = fetch(f"{server}/no-such-page/")

    assert status == 404
    assert b"URLconf" not in answer and b"DEBUG = True" not in answer


def test_it_still_serves_static_files(server):
    status, kind, answer = fetch(f"{server}/static/admin/css/base.css")

    assert status == 200
    assert kind.startswith("text/css")


def test_it_serves_nothing_under_media(server):
    assert fetch(f"{server}/media/orders/1/x.html")[0] == 404


def test_the_local_settings_keep_debug_off_unless_asked():
    code = "import config.settings.local as s; print(s.DEBUG)"
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_DEBUG"}
    off = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    on = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**env, "DJANGO_DEBUG": "1"}, capture_output=True, text=True
    )

    assert (off.stdout.strip(), on.stdout.strip()) == ("False", "True")
