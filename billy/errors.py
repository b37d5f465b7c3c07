"""Error pages that say what happened and what to do, and never echo the request (PHI could be in it)."""

from django.contrib.auth.decorators import login_not_required
from django.shortcuts import render


@login_not_required
def not_found(request, exception=None):
    return render(request, "404.html", status=404)


@login_not_required
def server_error(request):
    return render(request, "500.html", status=500)
