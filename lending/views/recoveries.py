"""Recording a recovery on a written-off loan (Accountant, Admin): the payment form, beside
what was written off and recovered so far. Recorded at once with its receipt; bad input stays
on the form next to its field with nothing written; a loan not written off goes back to the
loan page with the reason."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from accounts.access import permission_required
from lending.errors import StateConflict
from lending.forms import error_text
from lending.forms_repayments import RepaymentForm, new_idempotency_key, stored_idempotency_key
from lending.models import Loan, Repayment
from lending.selectors.loans import loan_for_page
from lending.services.recoveries import recoverable, recovery_record
from lending.services.repayments import IdempotencyConflict, money
from lending.views.borrowers import signed_in


@permission_required("lending.view_loan", "lending.add_repayment")
@require_http_methods(["GET", "POST"])
def recovery_create(request: HttpRequest, pk: int) -> HttpResponse:
    loan = loan_for_page(pk, request.user)
    if loan.status != Loan.Status.WRITTEN_OFF:  # the service refuses it again under the lock
        messages.error(
            request,
            f"Loan {loan.number} is {loan.get_status_display().lower()}; recoveries are "
            "recorded only on written-off loans.",
        )
        return redirect("loan_detail", pk=pk)
    written_off, recovered, written_off_on = recoverable(loan)
    if request.method == "POST":
        form = RepaymentForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                repayment = recovery_record(
                    loan=loan,
                    user=signed_in(request),
                    amount=data["amount"],
                    paid_on=data["paid_on"],
                    method=data["method"],
                    reference=data["reference"],
                    idempotency_key=stored_idempotency_key(request.user, data["idempotency_key"]),
                    request=request,
                )
            except StateConflict as exc:
                messages.error(request, error_text(exc))
                return redirect("loan_detail", pk=pk)
            except IdempotencyConflict as exc:
                form.add_error(None, exc.message)
            except ValidationError as exc:
                form.add_service_error(exc)
            else:
                messages.success(
                    request,
                    f"Recovery of {money(repayment.amount)} recorded on {loan.number}; "
                    f"receipt {repayment.receipt.number}.",
                )
                return redirect("repayment_detail", pk=repayment.pk)
    else:
        form = RepaymentForm(
            initial={
                "amount": (written_off - recovered) or None,
                "paid_on": timezone.localdate(),
                "method": Repayment.Method.CASH,
                "idempotency_key": new_idempotency_key(),
            }
        )
    return render(
        request,
        "lending/loans/recovery.html",
        {
            "loan": loan,
            "form": form,
            "written_off": written_off,
            "recovered": recovered,
            "left": written_off - recovered,
            "written_off_on": written_off_on,
        },
    )
