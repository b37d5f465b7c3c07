"""Background work of the billy app (django-q2, `default` cluster). Tasks take ids, never PHI."""

from __future__ import annotations

import logging

from billy.audit import verify_audit_table

logger = logging.getLogger(__name__)


def audit_chain_verify() -> dict:
    """Nightly: walk the audit chain and log its head, so the head is also kept outside the database."""
    report = verify_audit_table()
    if report.ok:
        logger.info("audit chain verified: %s entries, head %s:%s", report.count, report.head_sequence,
                    report.head_hash)
    else:
        logger.error("audit chain BROKEN: %s", "; ".join(report.problems))
    return {"ok": report.ok, "count": report.count, "head": f"{report.head_sequence}:{report.head_hash}",
            "problems": report.problems}


def invitation_send(membership_id: int) -> str:
    """Email a new member the link to choose their password (allauth's password-reset-from-key page)."""
    from allauth.account.forms import default_token_generator
    from allauth.account.utils import user_pk_to_url_str
    from django.conf import settings
    from django.core.mail import send_mail
    from django.urls import reverse

    from billy.models import Membership

    membership = Membership.objects.select_related("user", "practice").get(pk=membership_id)
    user = membership.user
    if user.has_usable_password():
        link = f"{settings.BILLY_BASE_URL}{reverse('account_login')}"
        action = "Sign in with your existing password"
    else:
        path = reverse("account_reset_password_from_key",
                       kwargs={"uidb36": user_pk_to_url_str(user), "key": default_token_generator.make_token(user)})
        link = f"{settings.BILLY_BASE_URL}{path}"
        action = "Choose your password"
    send_mail(
        subject=f"You have been added to {membership.practice.name} on IamBilly",
        message=(
            f"Hello{(' ' + user.full_name) if user.full_name else ''},\n\n"
            f"You now have the {membership.get_role_display().lower()} role at {membership.practice.name}.\n"
            f"{action}: {link}\n\nThe link works once. If you did not expect this, ignore this email.\n"
        ),
        from_email=None,
        recipient_list=[user.email],
    )
    return "sent"


def sessions_purge() -> dict:
    """Hourly: drop expired sessions, and the admin's records of them."""
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    from billy.models import UserSession

    expired, _ = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    live = Session.objects.values("session_key")
    records, _ = UserSession.objects.exclude(session_key__in=live).delete()
    return {"sessions": expired, "records": records}
