from django.contrib import admin
from django.urls import include, path

from billy import views

admin.site.site_header = "IamBilly administration"
admin.site.site_title = "IamBilly admin"
admin.site.index_title = "Practice administration"
admin.site.login = views.admin_login

urlpatterns = [
    path("", views.home, name="home"),
    path("practice/", views.practice_setup, name="practice_setup"),
    path("practice/switch/", views.practice_switch, name="practice_switch"),
    path("team/", views.team, name="team"),
    path("team/<int:membership_id>/role/", views.team_member_role, name="team_member_role"),
    path("team/<int:membership_id>/remove/", views.team_member_remove, name="team_member_remove"),
    path("healthz", views.healthz, name="healthz"),
    path("robots.txt", views.robots, name="robots"),
    path("patients/", include("patients.urls")),
    path("dictations/", include("audio.urls")),
    path("", include("billing.urls")),  # /fees/ (the fee schedule), /policies/ (the policy library)
    path("claims/", include("claims.urls")),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
]

handler404 = "billy.errors.not_found"
handler500 = "billy.errors.server_error"
