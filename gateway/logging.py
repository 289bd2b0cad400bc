import logging

from gateway.redaction import redact


class RedactSecretsFilter(logging.Filter):
    """Scrubs every log record, whoever wrote it (our code, requests, django-q2, Playwright)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record must still be logged, not raise
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True
