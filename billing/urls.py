from django.urls import path

from billing import policy_views, views

urlpatterns = [
    path("fees/", views.fee_schedule, name="fee_schedule"),
    path("fees/import/", views.fee_schedule_import, name="fee_schedule_import"),
    path("fees/export.csv", views.fee_schedule_export, name="fee_schedule_export"),
    path("policies/<int:document_id>/", policy_views.policy_document, name="policy_document"),
]
