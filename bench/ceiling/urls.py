"""Every route of the platform, plus `POST /bench/ceiling/<row>/` (bench only)."""

import json

from django.db import connection, transaction
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from config.urls import urlpatterns as platform_urlpatterns


@csrf_exempt
@require_POST
def ceiling(request: HttpRequest, row: int) -> JsonResponse:
    """Move row `row` from the state in the body to the next one: guarded UPDATE + audit INSERT."""
    try:
        state = int(json.loads(request.body)["state"])
    except (ValueError, KeyError, TypeError):
        return JsonResponse({"code": "invalid", "detail": 'Send {"state": <int>}.'}, status=400)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE bench_ceiling SET state = %s WHERE id = %s AND state = %s", [state + 1, row, state])
        if cursor.rowcount != 1:
            return JsonResponse(
                {"code": "invalid_transition", "detail": f"Row {row} is not in state {state}."}, status=409
            )
        cursor.execute(
            "INSERT INTO bench_ceiling_log (row_id, from_state, to_state, at) VALUES (%s, %s, %s, %s)",
            [row, state, state + 1, timezone.now()],
        )
    return JsonResponse({"row": row, "state": state + 1})


# The platform's own routes, unchanged, after the ceiling's.
urlpatterns = [path("bench/ceiling/<int:row>/", ceiling, name="bench-ceiling"), *platform_urlpatterns]
