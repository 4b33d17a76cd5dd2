"""`{{ installment|installment_badge:today }}`: the installment's badge as staff read it on
`today` (Paid, Partially paid, Overdue, Due today, Upcoming), from `Installment.label_on`, so
every page that shows an installment names it the same way."""

from datetime import date

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from lending.models import Installment

register = template.Library()


@register.filter
def installment_badge(installment: Installment, today: date) -> SafeString:
    label = installment.label_on(today)
    return format_html('<span class="badge {}">{}</span>', label.value, label.label)
