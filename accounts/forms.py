"""Form fields shared by the pages that filter by office."""

from __future__ import annotations

from typing import Any

from django import forms


class OfficeChoiceField(forms.ModelChoiceField):
    """An office of the tree, indented by its depth."""

    def label_from_instance(self, obj: Any) -> str:
        return str(obj.indented_name)
