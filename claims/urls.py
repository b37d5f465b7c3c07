from django.urls import path

from claims import views

urlpatterns = [
    path("", views.claim_queue, name="claim_queue"),
    path("codes/", views.code_search, name="code_search"),
    path("exports/", views.claim_exports, name="claim_exports"),
    path("exports/<int:export_id>/download/", views.claim_export_download, name="claim_export_download"),
    path("acknowledgements/", views.claim_acks, name="claim_acks"),
    path("<int:claim_id>/cms1500.pdf", views.claim_pdf, name="claim_pdf"),
    path("<int:claim_id>/", views.claim_detail, name="claim_detail"),
    path("<int:claim_id>.json", views.claim_json, name="claim_json"),
    path("<int:claim_id>/codes/", views.claim_codes_save, name="claim_codes_save"),
    path("<int:claim_id>/items/", views.claim_items, name="claim_items"),
    path("<int:claim_id>/history/", views.claim_history, name="claim_history"),
    path("<int:claim_id>/approve/", views.claim_approve, name="claim_approve"),
    path("<int:claim_id>/reject/", views.claim_reject, name="claim_reject"),
    path("<int:claim_id>/reopen/", views.claim_reopen, name="claim_reopen"),
    path("<int:claim_id>/void/", views.claim_void, name="claim_void"),
    path("<int:claim_id>/recode/", views.claim_recode, name="claim_recode"),
    path("<int:claim_id>/correct/", views.claim_correct, name="claim_correct"),
    path("<int:claim_id>/retry/", views.claim_retry, name="claim_retry"),
    path("<int:claim_id>/second-read/", views.claim_second_read, name="claim_second_read"),
    path("<int:claim_id>/second-read/retry/", views.claim_second_read_retry, name="claim_second_read_retry"),
]
