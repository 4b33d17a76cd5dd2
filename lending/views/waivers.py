"""Waiving charges and interest (Admin): a form, then a confirmation page that shows what the
waiver would change (the service's dry run), then the waiver itself. Bad input stays on the
form next to its field; a loan that is not active goes back to the loan page with the reason;
nothing is written until the Admin confirms."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts.access import permission_required
from lending.errors import StateConflict
from lending.forms import error_text
from lending.forms_repayments import WaiverForm
from lending.models import Installment, Loan
from lending.selectors.loans import loan_for_page
from lending.services import waivers as services
from lending.views.borrowers import signed_in


def _installments(loan: Loan) -> QuerySet[Installment]:
    return Installment.objects.filter(loan=loan).order_by("due_date", "number")


@permission_required("lending.view_loan", "lending.waive_loan")
@require_http_methods(["GET", "POST"])
def loan_waive(request: HttpRequest, pk: int) -> HttpResponse:
    loan = loan_for_page(pk, request.user)
    if loan.status != Loan.Status.ACTIVE:  # the service refuses it again under the row lock
        messages.error(
            request,
            f"Loan {loan.number} is {loan.get_status_display().lower()}; only an active "
            "loan's charges or interest can be waived.",
        )
        return redirect("loan_detail", pk=pk)
    form = WaiverForm(request.POST if request.method == "POST" else None)
    context = {
        "loan": loan,
        "form": form,
        "left": services.waivable_totals(list(_installments(loan))),
    }
    if form.is_bound and form.is_valid() and "change" not in request.POST:
        confirmed = bool(form.cleaned_data.get("confirmed"))
        try:
            result = services.loan_waive(
                loan=loan,
                user=signed_in(request),
                reason=form.cleaned_data["reason"],
                dry_run=not confirmed,
                request=request,
                **form.amounts(),
            )
        except StateConflict as exc:
            messages.error(request, error_text(exc))
            return redirect("loan_detail", pk=pk)
        except ValidationError as exc:
            form.add_service_error(exc)
        else:
            if confirmed:
                messages.success(
                    request,
                    f"{settings.KARO_CURRENCY} {result.total:,.2f} waived on loan {loan.number}.",
                )
                return redirect("loan_detail", pk=pk)
            confirm = WaiverForm(initial={**form.cleaned_data, "confirmed": True})
            confirm.hide()
            return render(
                request,
                "lending/loans/waive_confirm.html",
                {"loan": loan, "result": result, "form": confirm},
            )
    return render(request, "lending/loans/waive.html", context)
