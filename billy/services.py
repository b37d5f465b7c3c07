"""Writes for users, practices, memberships and sessions. Each one is atomic and audited."""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.contrib.sessions.models import Session
from django.db import transaction
from django.utils import timezone

from billy import roles
from billy.audit import audit_record
from billy.models import Membership, Practice, Role, User, UserSession


class BillyError(Exception):
    """A domain error with a message meant for a person: what went wrong and what to do."""


@transaction.atomic
def practice_create(*, name: str, by: User | None = None) -> Practice:
    name = name.strip()
    if not name:
        raise BillyError("A practice needs a name.")
    if Practice.objects.filter(name__iexact=name).exists():
        raise BillyError(f"A practice named {name!r} already exists.")
    practice = Practice.objects.create(name=name)
    audit_record(action="practice.create", actor=by, practice_id=practice.pk, obj=practice)
    return practice


@transaction.atomic
def user_create(*, email: str, full_name: str = "", password: str | None = None, by: User | None = None) -> User:
    email = email.strip().lower()
    if User.objects.filter(email__iexact=email).exists():
        raise BillyError(f"A user with the login {email} already exists.")
    user = User.objects.create_user(email=email, password=password, full_name=full_name.strip())
    audit_record(action="user.create", actor=by, obj=user)
    return user


def _sync_user_groups_and_staff(user: User) -> None:
    """Groups and the admin-site flag follow the roles a user holds in any practice."""
    held = set(Membership.objects.filter(user=user, is_active=True).values_list("role", flat=True))
    for role in Role:
        group, _ = Group.objects.get_or_create(name=roles.group_name(role))
        if role in held:
            user.groups.add(group)
        else:
            user.groups.remove(group)
    is_staff = user.is_superuser or Role.ADMIN in held
    if user.is_staff != is_staff:
        user.is_staff = is_staff
        user.save(update_fields=["is_staff"])


@transaction.atomic
def membership_grant(*, user: User, practice: Practice, role: Role | str, by: User | None = None) -> Membership:
    role = Role(role)
    membership, created = Membership.objects.update_or_create(
        user=user, practice=practice, defaults={"role": role, "is_active": True}
    )
    _sync_user_groups_and_staff(user)
    audit_record(
        action="membership.grant", actor=by, practice_id=practice.pk, obj=membership,
        detail={"user_id": user.pk, "role": role.value, "created": created},
    )
    return membership


@transaction.atomic
def member_invite(*, practice: Practice, email: str, full_name: str, role: Role | str, by: User) -> Membership:
    """Add someone to a practice. A new person gets an account with no password and an email with a link
    to choose one (sign-up is closed: this is the only way in). Someone who already has an account is
    simply given the role here."""
    email = email.strip().lower()
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        user = User.objects.create_user(email=email, password=None, full_name=full_name.strip())
        audit_record(action="user.invite", actor=by, practice_id=practice.pk, obj=user)
    elif Membership.objects.filter(user=user, practice=practice, is_active=True).exists():
        raise BillyError(f"{email} is already a member of {practice.name}.")
    membership = membership_grant(user=user, practice=practice, role=role, by=by)
    from django_q.tasks import async_task

    # Ids only: task arguments are stored in the database.
    transaction.on_commit(lambda: async_task("billy.tasks.invitation_send", membership.pk))
    return membership


@transaction.atomic
def membership_change_role(*, membership: Membership, role: Role | str, by: User) -> Membership:
    if membership.user_id == by.pk and Role(role) != Role.ADMIN:
        raise BillyError("You cannot take away your own admin role; ask another admin.")
    return membership_grant(user=membership.user, practice=membership.practice, role=role, by=by)


@transaction.atomic
def membership_revoke(*, membership: Membership, by: User | None = None) -> None:
    if by is not None and membership.user_id == by.pk:
        raise BillyError("You cannot remove yourself from the practice; ask another admin.")
    Membership.objects.filter(pk=membership.pk).update(is_active=False)
    _sync_user_groups_and_staff(membership.user)
    audit_record(
        action="membership.revoke", actor=by, practice_id=membership.practice_id, obj=membership,
        detail={"user_id": membership.user_id},
    )


def session_touch(*, session_key: str, user: User, ip_address: str | None, user_agent: str) -> None:
    """Record that a session was used (called at most once a minute per session by middleware)."""
    UserSession.objects.update_or_create(
        session_key=session_key,
        defaults={"user": user, "last_seen_at": timezone.now(), "ip_address": ip_address,
                  "user_agent": user_agent[:200]},
    )


@transaction.atomic
def session_end(*, user_session: UserSession, by: User | None = None) -> None:
    """Sign a browser session out now (an admin ending someone's session, or a lost laptop)."""
    Session.objects.filter(session_key=user_session.session_key).delete()
    audit_record(
        action="session.end", actor=by, obj=user_session, detail={"user_id": user_session.user_id},
    )
    user_session.delete()
