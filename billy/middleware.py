"""Request-wide rules: admins must use MFA, sessions are recorded, PHI pages are never cached."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.shortcuts import redirect
from django.urls import reverse

from billy import services
from billy.models import Membership, Role


def client_ip(request) -> str | None:
    # Behind the production proxy, REMOTE_ADDR is the proxy; trust X-Forwarded-For only in production,
    # where the compose file puts exactly one proxy in front.
    if settings.PRODUCTION and request.META.get("HTTP_X_FORWARDED_FOR"):
        return request.META["HTTP_X_FORWARDED_FOR"].split(",")[0].strip()
    return request.META.get("REMOTE_ADDR")


class RequireAdminMfaMiddleware:
    """A user who is an admin of any practice (or a superuser) must set up TOTP before doing anything else."""

    ALLOWED_PREFIXES = ("/accounts/", "/static/", "/healthz")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if (
            user.is_authenticated
            and not request.path.startswith(self.ALLOWED_PREFIXES)
            and self._must_have_mfa(user)
            and not self._has_totp(user)
        ):
            return redirect(reverse("mfa_activate_totp"))
        return self.get_response(request)

    @staticmethod
    def _must_have_mfa(user) -> bool:
        if user.is_superuser:
            return True
        return Membership.objects.filter(user=user, role=Role.ADMIN, is_active=True).exists()

    @staticmethod
    def _has_totp(user) -> bool:
        from allauth.mfa.models import Authenticator

        return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()


class SessionActivityMiddleware:
    """Keeps the admin's list of signed-in sessions current, writing at most once a minute per session."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        session_key = request.session.session_key if hasattr(request, "session") else None
        # The cache key holds the random session key, never PHI.
        if (
            user is not None
            and user.is_authenticated
            and session_key
            and cache.add(f"session-touch:{session_key}", 1, timeout=60)
        ):
            services.session_touch(
                session_key=session_key, user=user, ip_address=client_ip(request),
                user_agent=request.META.get("HTTP_USER_AGENT", ""),
            )
        return response


class NoStoreMiddleware:
    """Pages for signed-in users carry PHI: no browser or proxy may keep a copy."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if getattr(request, "user", None) is not None and request.user.is_authenticated:
            response["Cache-Control"] = "no-store, private"
            response["Pragma"] = "no-cache"
        return response
