"""Content negotiation that never answers 406: a client that asks for something else gets JSON
(and its errors as problem+json), so an Accept header cannot mask a 401 or a 404."""

from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation

# Accept values for which DRF's negotiation picks the view's first renderer with its own media type
# (no parameters such as `indent` to honour): answered without parsing them again on every request.
_PLAIN_ACCEPT = frozenset({"", "*/*", "application/json"})


class JSONAlwaysNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        if (
            format_suffix is None
            and renderers[0].media_type == "application/json"
            and request.META.get("HTTP_ACCEPT", "").strip() in _PLAIN_ACCEPT
            and self.settings.URL_FORMAT_OVERRIDE not in request.query_params
        ):
            return renderers[0], renderers[0].media_type
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except exceptions.NotAcceptable:
            return renderers[0], renderers[0].media_type
