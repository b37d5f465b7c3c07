"""django-q2 entry points of the EMR integration: ids in, one service call."""

from integrations.filing import emr_document_file as _file


def emr_document_file(document_id: int) -> str:
    return _file(document_id=document_id)
