from django.urls import path

from billing import views

urlpatterns = [
    path("", views.fee_schedule, name="fee_schedule"),
    path("import/", views.fee_schedule_import, name="fee_schedule_import"),
    path("export.csv", views.fee_schedule_export, name="fee_schedule_export"),
]
