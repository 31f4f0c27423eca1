"""A test-only email backend for a Celery worker (EMAIL_BACKEND=tests.surveys.slow_mail.HeldFileBackend).

It writes like Django's file backend, except that while the file named by HELD_MAIL_FILE exists a
send records its process id next to it and waits: the test then kills that process mid-send.
"""

import os
import time
from pathlib import Path

from django.core.mail.backends.filebased import EmailBackend


class HeldFileBackend(EmailBackend):
    def send_messages(self, email_messages):
        hold = Path(os.environ["HELD_MAIL_FILE"])
        if hold.exists():
            (hold.parent / "sending.pid").write_text(str(os.getpid()))
            while hold.exists():
                time.sleep(0.05)
        return super().send_messages(email_messages)
