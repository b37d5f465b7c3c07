from billy.selectors import current_membership, memberships_for_user


def membership(request):
    """The practice and role the user works under, for the navigation."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {
        "current_membership": current_membership(request),
        "all_memberships": list(memberships_for_user(user=request.user)),
    }
