"""Counting a large table without reading all of it.

An exact COUNT(*) reads every row (PostgreSQL has no stored row count), so a list page or a
health check that counts the whole generations table slows down as it grows. Above
ESTIMATE_ABOVE rows, PostgreSQL's own estimate (kept by ANALYZE and autovacuum, in pg_class)
stands in for the unfiltered count; a filtered list, and every list on SQLite, is counted exactly.
"""

from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property

ESTIMATE_ABOVE = 10_000


def estimated_count(model, using="default"):
    """PostgreSQL's estimate of a table's rows, or None (another database, or never analysed)."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
            [model._meta.db_table],
        )
        row = cursor.fetchone()
    return row[0] if row and row[0] >= 0 else None


def table_count(model, using="default"):
    """Rows in a model's table: exact while small, PostgreSQL's estimate once large."""
    estimate = estimated_count(model, using)
    if estimate is not None and estimate > ESTIMATE_ABOVE:
        return estimate
    return model._default_manager.using(using).count()


class EstimatedCountPaginator(Paginator):
    """The admin's paginator: the unfiltered list of a big table uses the estimate."""

    @cached_property
    def count(self):
        queryset = self.object_list
        if getattr(queryset, "query", None) is not None and not queryset.query.where:
            estimate = estimated_count(queryset.model, queryset.db)
            if estimate is not None and estimate > ESTIMATE_ABOVE:
                return estimate
        return super().count


class CountedPaginator(Paginator):
    """A paginator that counts its list with `count()`, a cheaper query that must give the same
    number as the list's own COUNT (the gallery's cards: selectors.gallery_card_count)."""

    def __init__(self, object_list, per_page, *, count, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self._count = count

    @cached_property
    def count(self):
        return self._count()
