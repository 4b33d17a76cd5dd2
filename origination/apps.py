from django.apps import AppConfig


class OriginationConfig(AppConfig):
    """What an application carries to its decision: the borrower's documents, guarantors and
    collateral (DESIGN.md, "Offices, loan officers, holidays and origination")."""

    name = "origination"
    verbose_name = "Origination"
