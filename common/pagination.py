"""Pagination of every API list (``REST_FRAMEWORK["DEFAULT_PAGINATION_CLASS"]``).

Kept apart from ``common.schema``: DRF loads this class while ``rest_framework.generics`` is being
imported, and drf-spectacular imports ``generics`` itself.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.pagination import PageNumberPagination

# Past any page a list can have; bounds the digits ``int()`` is asked to read.
MAX_PAGE = 2**63 - 1


def page_number(request, name: str = "page") -> int:
    """The page a list is asked for: 1 without ``?page=``, else a whole number from 1 in ASCII
    digits. Anything else is a 404 ``not_found`` as the schema says (``minimum: 1``, no empty
    value): ``?page=``, ``0``, ``-1``, ``last`` (which DRF would take), ``1.0``, full-width ``１``
    (which ``int()`` would read). The one rule of every list, whether DRF paginates it
    (``Pagination``) or a selector does (``catalog.api``'s products)."""
    raw = request.query_params.get(name)
    if raw is None:
        return 1
    if not (raw.isascii() and raw.isdigit() and len(raw) <= len(str(MAX_PAGE))
            and 1 <= int(raw) <= MAX_PAGE):
        raise exceptions.NotFound(_("Invalid page."), code="not_found")
    return int(raw)


class Pagination(PageNumberPagination):
    """``?page=N&page_size=M`` -> ``{count, next, previous, results}``.

    ``page_size`` is 20 by default and must be a whole number from 1 to ``max_page_size``
    (100): anything else (``?page_size=`` too) is a 400 naming the field, not silently
    replaced. A page that is not a page number (``page_number``) or past the end is a 404, as
    in DRF.
    """

    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_number(self, request, paginator):
        return page_number(request, self.page_query_param)

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not (raw.isascii() and raw.isdigit() and len(raw) <= len(str(self.max_page_size))
                and 1 <= int(raw) <= self.max_page_size):
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
