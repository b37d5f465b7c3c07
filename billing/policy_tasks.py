"""django-q2 tasks of the policy library (the `inference` cluster). Each takes an id only."""

from billing import policy_services


def policy_document_process(document_id: int) -> bool:
    return policy_services.policy_document_process(document_id=document_id)
