"""Pagination of every API list (``REST_FRAMEWORK["DEFAULT_PAGINATION_CLASS"]``).

Kept apart from ``common.schema``: DRF loads this class while ``rest_framework.generics`` is being
imported, and drf-spectacular imports ``generics`` itself.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    """``?page=N&page_size=M`` -> ``{count, next, previous, results}``.

    ``page_size`` is 20 by default and must be a whole number from 1 to ``max_page_size``
    (100): anything else is a 400 naming the field, not silently replaced. A page past the end
    (or not a page number) is a 404, as in DRF.
    """

    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= self.max_page_size):
            raise exceptions.ValidationError({self.page_size_query_param: [
                _("Enter a whole number from 1 to %(max)d.") % {"max": self.max_page_size}
            ]})
        return int(raw)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"]["minimum"] = 1
            elif parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
        return parameters
