from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@never_cache
@require_GET
def healthz(request):
    """Liveness for load balancers: 200 when the database answers, 503 when it does not.

    The cache is reported but never fails the check: with Redis down the product degrades to
    uncached reads.
    """
    status = {"database": "ok", "cache": "ok"}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "down" here
        status["database"] = f"error: {exc.__class__.__name__}"
    try:
        cache.set("healthz", "1", 5)
        if cache.get("healthz") != "1":
            status["cache"] = "unavailable"
    except Exception as exc:
        status["cache"] = f"error: {exc.__class__.__name__}"
    code = 200 if status["database"] == "ok" else 503
    return JsonResponse({"status": "ok" if code == 200 else "unavailable", **status}, status=code)
