from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.access import permission_required


@permission_required("lending.view_loan")
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "reporting/dashboard.html", {})
