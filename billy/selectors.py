"""Who may see what. Every practice-scoped read starts from the user's active memberships here."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.utils import timezone

from billy.models import Membership, Practice, Role, UserSession

SESSION_PRACTICE_KEY = "billy_practice_id"


def memberships_for_user(*, user) -> QuerySet[Membership]:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Membership.objects.none()
    return Membership.objects.filter(user=user, is_active=True).select_related("practice")


def practices_for_user(*, user) -> QuerySet[Practice]:
    return Practice.objects.filter(pk__in=memberships_for_user(user=user).values("practice_id"))


def membership_for(*, user, practice_id: int | None) -> Membership | None:
    if practice_id is None:
        return None
    return memberships_for_user(user=user).filter(practice_id=practice_id).first()


def current_membership(request: HttpRequest) -> Membership | None:
    """The membership the user works under now: the practice picked in this session, else their first."""
    cached = getattr(request, "_billy_membership", False)
    if cached is not False:
        return cached
    memberships = memberships_for_user(user=request.user)
    chosen = None
    practice_id = request.session.get(SESSION_PRACTICE_KEY) if hasattr(request, "session") else None
    if practice_id is not None:
        chosen = memberships.filter(practice_id=practice_id).first()
    if chosen is None:
        chosen = memberships.order_by("practice__name").first()
    request._billy_membership = chosen
    return chosen


def require_membership(request: HttpRequest, *roles: Role | str) -> Membership:
    """The current membership if its role is one of `roles` (any role when none given).

    A user with no membership, or the wrong role, gets 404 rather than 403: whether a practice's data
    exists is itself something an outsider must not learn.
    """
    membership = current_membership(request)
    if membership is None or (roles and membership.role not in roles):
        raise Http404
    return membership


def objects_granted_to(*, user, perm: str, queryset: QuerySet) -> QuerySet:
    """Objects a user was granted one by one (django-guardian), e.g. an outside auditor and a few claims.

    Only explicit per-object grants count: a role's model permission never widens what a user sees here.
    """
    from guardian.shortcuts import get_objects_for_user

    return get_objects_for_user(user, perm, klass=queryset, accept_global_perms=False, with_superuser=False)


def active_sessions_for(*, practice_id: int) -> QuerySet[UserSession]:
    """Sessions of the practice's people that were used within the idle time (so are still signed in)."""
    since = timezone.now() - dt.timedelta(seconds=settings.SESSION_COOKIE_AGE)
    return UserSession.objects.filter(
        user__memberships__practice_id=practice_id, last_seen_at__gte=since
    ).distinct()


def providers_for(*, practice_id: int, active_only: bool = True):
    from billy.models import Provider

    providers = Provider.objects.filter(practice_id=practice_id).select_related("user")
    return providers.filter(is_active=True) if active_only else providers


def provider_for_user(*, user, practice_id: int):
    """The physician's own provider record in this practice (their login is linked to it), or None."""
    return providers_for(practice_id=practice_id).filter(user=user).first()


def facilities_for(*, practice_id: int, active_only: bool = True):
    from billy.models import Facility

    facilities = Facility.objects.filter(practice_id=practice_id)
    return facilities.filter(is_active=True) if active_only else facilities


def edi_settings_for(*, practice_id: int):
    from billy.models import EdiSettings

    return EdiSettings.objects.filter(practice_id=practice_id).first()
