"""Root routes: the probes, the API under /api/, its schema and docs, and the admin."""

from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import include, path

from lenme.api.docs import RedocView, SchemaView, SwaggerView
from lenme.api.errors import PROBLEM_CONTENT_TYPE, problem
from lenme.api.health import HealthzView, ReadyzView

urlpatterns = [
    # Probes: no trailing slash, outside /api/, as load balancers and orchestrators expect.
    path("healthz", HealthzView.as_view(), name="healthz"),
    path("readyz", ReadyzView.as_view(), name="readyz"),
    path("api/", include("accounts.urls")),
    path("api/", include("loans.urls")),
    path("api/", include("webhooks.urls")),
    path("api/schema/", SchemaView.as_view(), name="schema"),
    path("api/docs/", SwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("swagger/", SwaggerView.as_view(url_name="schema"), name="swagger-ui-alias"),
    path("api/redoc/", RedocView.as_view(url_name="schema", template_name="lenme/redoc.html"), name="redoc"),
    path("admin/", admin.site.urls),
]


def _problem(status: int, code: str, title: str, detail: str) -> JsonResponse:
    return JsonResponse(problem(status, code, title, detail), status=status, content_type=PROBLEM_CONTENT_TYPE)


def handler404(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return _problem(404, "not_found", "Not found", "No such resource.")


def handler500(request: HttpRequest) -> JsonResponse:
    return _problem(500, "server_error", "Server error", "Something went wrong on our side; nothing was charged twice.")


def handler400(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return _problem(400, "bad_request", "Bad request", "The request could not be understood.")
