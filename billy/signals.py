"""Sign-in events into the audit trail. Django's auth signals are the only hook for these."""

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from billy.audit import audit_record
from billy.middleware import client_ip


@receiver(user_logged_in, dispatch_uid="billy.audit_login")
def _logged_in(sender, request, user, **kwargs):
    audit_record(action="auth.login", actor=user, obj=user, ip_address=client_ip(request) if request else None)


@receiver(user_logged_out, dispatch_uid="billy.audit_logout")
def _logged_out(sender, request, user, **kwargs):
    if user is not None:
        audit_record(action="auth.logout", actor=user, obj=user, ip_address=client_ip(request) if request else None)


@receiver(user_login_failed, dispatch_uid="billy.audit_login_failed")
def _login_failed(sender, credentials, request=None, **kwargs):
    # The attempted login name is not stored: it may be a mistyped patient detail pasted in the wrong box.
    audit_record(action="auth.login_failed", ip_address=client_ip(request) if request else None)
