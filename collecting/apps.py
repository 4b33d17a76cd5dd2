from django.apps import AppConfig


class CollectingConfig(AppConfig):
    """Collections at volume: the collection sheet and the daily close on background workers
    (DESIGN.md "Collections at volume and background work"). Not named `collections`, which
    is the standard library's."""

    name = "collecting"
    verbose_name = "Collections"
