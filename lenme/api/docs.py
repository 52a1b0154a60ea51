"""The schema and the documentation pages answer GET and HEAD; OPTIONS is 200 with `Allow`, and any
other method a problem+json 405 (drf-spectacular's HTML views answered OPTIONS with a 500, since
TemplateHTMLRenderer has no template for DRF's metadata, and rendered 405s as HTML or YAML)."""

from django.http import HttpResponse, JsonResponse
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from lenme.api.errors import PROBLEM_CONTENT_TYPE, problem

ALLOW = "GET, HEAD, OPTIONS"


class ReadOnlyDocsMixin:
    def dispatch(self, request, *args, **kwargs):
        if request.method == "OPTIONS":
            return HttpResponse(status=200, headers={"Allow": ALLOW})
        if request.method not in ("GET", "HEAD"):
            body = problem(405, "method_not_allowed", "Method not allowed", f'Method "{request.method}" not allowed.')
            return JsonResponse(body, status=405, content_type=PROBLEM_CONTENT_TYPE, headers={"Allow": ALLOW})
        return super().dispatch(request, *args, **kwargs)


class SchemaView(ReadOnlyDocsMixin, SpectacularAPIView):
    pass


class SwaggerView(ReadOnlyDocsMixin, SpectacularSwaggerView):
    pass


class RedocView(ReadOnlyDocsMixin, SpectacularRedocView):
    pass
