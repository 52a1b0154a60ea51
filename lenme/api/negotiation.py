"""Content negotiation that never answers 406: a client that asks for something else gets JSON
(and its errors as problem+json), so an Accept header cannot mask a 401 or a 404."""

from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation


class JSONAlwaysNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except exceptions.NotAcceptable:
            return renderers[0], renderers[0].media_type
