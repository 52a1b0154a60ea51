"""Page-number pagination: ?page= and ?page_size= (default 50, max 200).

A malformed page or page_size, or a page past the last one, is a 400 `validation_error` naming the
parameter: a 404 would read as "the loan is not visible" on nested lists such as a loan's offers.
A page_size above 200 (the schema's maximum) is a 400 too: the schema and the service agree.
"""

import re

from django.core.paginator import InvalidPage
from rest_framework import pagination

from lenme.api.errors import ValidationFailed

_POSITIVE_INT = re.compile(r"[1-9][0-9]{0,17}")


def _positive_int(request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if not _POSITIVE_INT.fullmatch(raw):
        raise ValidationFailed.field(name, f"`{name}` must be a positive integer.", "invalid")
    return int(raw)


class PageNumberPagination(pagination.PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_size(self, request) -> int:
        size = _positive_int(request, self.page_size_query_param)
        if size is None:
            return self.page_size
        if size > self.max_page_size:
            raise ValidationFailed.field(
                self.page_size_query_param,
                f"`{self.page_size_query_param}` must be at most {self.max_page_size}.",
                "max_value",
            )
        return size

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        paginator = self.django_paginator_class(queryset, self.get_page_size(request))
        if request.query_params.get(self.page_query_param) in self.last_page_strings:
            number = paginator.num_pages
        else:
            number = _positive_int(request, self.page_query_param) or 1
        try:
            self.page = paginator.page(number)
        except InvalidPage as exc:
            raise ValidationFailed.field(
                self.page_query_param, f"There is no page {number}; the last page is {paginator.num_pages}.", "invalid"
            ) from exc
        if paginator.num_pages > 1 and self.template is not None:
            self.display_page_controls = True
        return list(self.page)
