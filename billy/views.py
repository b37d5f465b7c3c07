from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from billy import services
from billy.forms import InviteForm, RoleForm
from billy.models import AuditEvent, Membership, Role
from billy.selectors import (
    SESSION_PRACTICE_KEY,
    active_sessions_for,
    current_membership,
    edi_settings_for,
    facilities_for,
    membership_for,
    provider_for_user,
    providers_for,
    require_membership,
)
from billy.services import BillyError
from patients.selectors import patients_for, payers_for


def home(request):
    membership = current_membership(request)
    if membership is None:
        return render(request, "billy/no_practice.html", status=200)
    context = {"membership": membership, "patient_count": patients_for(membership=membership).count()}
    if membership.role == Role.PHYSICIAN:
        context["provider"] = provider_for_user(user=request.user, practice_id=membership.practice_id)
        from audio.review import signing_inbox

        inbox = signing_inbox(membership=membership)
        context["to_sign_count"], context["addenda_count"] = inbox["to_sign"].count(), inbox["addenda"].count()
    if membership.role in (Role.BILLER, Role.ADMIN):
        from claims.selectors import QueueFilters, queue_counts

        context["claim_counts"] = queue_counts(membership=membership, filters=QueueFilters(status=""))
    if membership.role == Role.ADMIN:
        context["team"] = (
            Membership.objects.filter(practice_id=membership.practice_id).select_related("user").order_by("role")
        )
        context["recent_events"] = AuditEvent.objects.filter(practice_id=membership.practice_id)[:10]
        context["active_sessions"] = active_sessions_for(practice_id=membership.practice_id).count()
    return render(request, f"billy/home_{membership.role}.html", context)


def practice_setup(request):
    """What every claim of the practice is made of: providers, facilities, payers, EDI settings.

    Billers read it here to check a claim's parties; admins change it in the admin.
    """
    membership = require_membership(request, Role.BILLER, Role.ADMIN)
    practice_id = membership.practice_id
    providers = list(providers_for(practice_id=practice_id, active_only=False))
    context = {
        "providers": providers,
        "facilities": facilities_for(practice_id=practice_id, active_only=False),
        "payers": payers_for(membership=membership, active_only=False),
        "edi": edi_settings_for(practice_id=practice_id),
        "is_admin": membership.role == Role.ADMIN,
        "missing": _setup_gaps(providers=providers, practice_id=practice_id, membership=membership),
    }
    return render(request, "billy/practice_setup.html", context)


def _setup_gaps(*, providers, practice_id, membership) -> list[str]:
    gaps = []
    if not any(p.is_billing and p.is_active for p in providers):
        gaps.append("No billing provider: claims cannot be exported (CMS-1500 item 33, 837P loop 2010AA).")
    if not any(p.is_rendering and p.is_active for p in providers):
        gaps.append("No rendering provider.")
    if not facilities_for(practice_id=practice_id).exists():
        gaps.append("No service facility (CMS-1500 item 32).")
    if not payers_for(membership=membership).exists():
        gaps.append("No payers.")
    if edi_settings_for(practice_id=practice_id) is None:
        gaps.append("No EDI settings: 837P files need the submitter and receiver ids.")
    return gaps


@require_POST
def practice_switch(request):
    try:
        practice_id = int(request.POST.get("practice", ""))
    except ValueError:
        raise Http404 from None
    if membership_for(user=request.user, practice_id=practice_id) is None:
        raise Http404
    request.session[SESSION_PRACTICE_KEY] = practice_id
    messages.success(request, "Switched practice.")
    return redirect("home")


@login_not_required
@require_GET
def healthz(request):
    """For load balancers and compose health checks: the database answers. No PHI, no login."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


@login_not_required
def robots(request):
    return HttpResponse("User-agent: *\nDisallow: /\n", content_type="text/plain")


@login_not_required
def admin_login(request, extra_context=None):
    """The admin signs in through allauth, so two-factor applies there too (Django's own form would skip it)."""
    next_url = request.GET.get("next") or reverse("admin:index")
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = reverse("admin:index")
    if not request.user.is_authenticated:
        return redirect(f"{reverse('account_login')}?next={next_url}")
    if request.user.is_staff:
        return redirect(next_url)
    raise Http404  # signed in, but not an admin anywhere: for them the admin does not exist


def _team_context(membership, form=None):
    members = (Membership.objects.filter(practice_id=membership.practice_id)
               .select_related("user").order_by("-is_active", "role", "user__email"))
    return {"membership": membership, "members": members, "form": form or InviteForm(), "roles": Role.choices}


@require_http_methods(["GET", "POST"])
def team(request):
    """Practice admins invite people, change roles and remove members."""
    membership = require_membership(request, Role.ADMIN)
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            invited = services.member_invite(practice=membership.practice, by=request.user, **form.cleaned_data)
        except BillyError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Invited {invited.user.email}: they will get an email to choose a password.")
            return redirect("team")
    return render(request, "billy/team.html", _team_context(membership, form))


@require_POST
def team_member_role(request, membership_id: int):
    membership = require_membership(request, Role.ADMIN)
    target = get_object_or_404(Membership, pk=membership_id, practice_id=membership.practice_id)
    form = RoleForm(request.POST)
    if form.is_valid():
        try:
            services.membership_change_role(membership=target, role=form.cleaned_data["role"], by=request.user)
            messages.success(request, f"{target.user.email} is now {Role(form.cleaned_data['role']).label}.")
        except BillyError as exc:
            messages.error(request, str(exc))
    return redirect("team")


@require_POST
def team_member_remove(request, membership_id: int):
    membership = require_membership(request, Role.ADMIN)
    target = get_object_or_404(Membership, pk=membership_id, practice_id=membership.practice_id, is_active=True)
    try:
        services.membership_revoke(membership=target, by=request.user)
        messages.success(request, f"{target.user.email} no longer has access to {membership.practice.name}.")
    except BillyError as exc:
        messages.error(request, str(exc))
    return redirect("team")
