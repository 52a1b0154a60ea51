"""The negotiation shortcut answers exactly what DRF's negotiation would for the plain Accept values."""

import pytest
from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from lenme.api.negotiation import JSONAlwaysNegotiation


@pytest.mark.parametrize("accept", [None, "", "*/*", "application/json", " application/json "])
@pytest.mark.parametrize("renderers", [[JSONRenderer()], [JSONRenderer(), BrowsableAPIRenderer()]])
def test_plain_accept_values_get_what_drf_would_choose(accept, renderers):
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    request = Request(APIRequestFactory().get("/api/loans/", **headers))
    ours = JSONAlwaysNegotiation().select_renderer(request, renderers)
    try:
        drf = DefaultContentNegotiation().select_renderer(request, renderers)
    except NotAcceptable:  # an empty Accept: the class answers JSON, as for any unacceptable one
        drf = renderers[0], renderers[0].media_type
    assert (ours[0], ours[1]) == (drf[0], drf[1])


def test_other_accept_values_still_negotiate():
    request = Request(APIRequestFactory().get("/api/loans/", HTTP_ACCEPT="application/json; indent=4"))
    renderer, media_type = JSONAlwaysNegotiation().select_renderer(request, [JSONRenderer()])
    assert media_type == "application/json; indent=4"
    request = Request(APIRequestFactory().get("/api/loans/", HTTP_ACCEPT="text/csv"))
    assert JSONAlwaysNegotiation().select_renderer(request, [JSONRenderer()])[1] == "application/json"
