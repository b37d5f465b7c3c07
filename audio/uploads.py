"""An upload handler that stops a dictation upload the moment it passes the size limit.

Django's own handlers write the whole request to a temporary file before a view sees it; this one counts the
bytes as they arrive and stops reading at the limit, so an oversized file never fills the disk.
"""

from __future__ import annotations

from django.conf import settings
from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler
from django.http import QueryDict
from django.utils.datastructures import MultiValueDict


class SizeLimitedUploadHandler(TemporaryFileUploadHandler):
    def __init__(self, request=None) -> None:
        super().__init__(request)
        self.limit = settings.BILLY_MAX_UPLOAD_MB * 1024 * 1024
        self.received = 0

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        if content_length and content_length > self.limit + 64 * 1024:
            # The request says how big it is: refuse without reading a byte of it (empty POST and FILES).
            self._note_refusal()
            return QueryDict(encoding=encoding), MultiValueDict()
        return None

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.limit:
            self._refuse()
        return super().receive_data_chunk(raw_data, start)

    def _refuse(self) -> None:
        self._note_refusal()
        raise StopUpload(connection_reset=False)

    def _note_refusal(self) -> None:
        if self.request is not None:
            self.request.upload_refused = (f"The file is larger than {settings.BILLY_MAX_UPLOAD_MB} MB. Split the "
                                           "dictation, or record it again at a lower quality.")
