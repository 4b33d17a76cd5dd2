"""Login pages and the friendly error pages (403/404/500)."""

from typing import Any

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode

from accounts import throttle


class LoginForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That username and password do not match. Check both and try again "
        "(after 5 failures the username is locked from this computer for 15 minutes).",
        "inactive": "This account is disabled. Ask an administrator.",
    }

    refusal: throttle.Refusal | None = None

    def get_invalid_login_error(self) -> ValidationError:
        """A throttle refusal says when to try again instead of blaming the password."""
        username = self.cleaned_data.get("username") or ""
        self.refusal = throttle.refusal(self.request, username) if self.request else None
        if self.refusal is not None:
            return ValidationError(self.refusal.message, code="throttled")
        return super().get_invalid_login_error()


class LoginView(auth_views.LoginView):
    """Sign in through the throttle (accounts/throttle.py). A refusal answers 429 with
    Retry-After and the form, so the wait is stated and the next try needs no new page."""

    form_class = LoginForm
    redirect_authenticated_user = True

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        response = super().form_invalid(form)
        refusal = getattr(form, "refusal", None)
        if refusal is not None:
            response.status_code = 429
            response["Retry-After"] = str(refusal.retry_after)
        return response


class LogoutView(auth_views.LogoutView):
    """Sign out (POST only), then the login page says so."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = super().post(request, *args, **kwargs)
        messages.success(request, "You have signed out.")
        return response


def admin_login(request: HttpRequest, extra_context: Any = None) -> HttpResponse:
    """Send /admin/login/ to the site's login page, which is throttled and audited. A user
    who is signed in but may not use the admin gets the 403 page: sending them to sign in
    again would bounce them straight back here."""
    if request.user.is_authenticated:
        return permission_denied(request, PermissionDenied("Your role does not use the admin."))
    next_url = request.GET.get("next", reverse("admin:index"))
    return redirect(f"{reverse('login')}?{urlencode({'next': next_url})}")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    message = str(exception) if exception and str(exception) else ""
    return render(request, "403.html", {"message": message}, status=403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    return render(request, "500.html", status=500)
