"""Tokens never reach the logs, whatever logs them."""
from __future__ import annotations

import io
import json
import logging

from core.logs import configure_logging


def test_tokens_are_redacted_in_plain_and_json_logs():
    for json_lines in (False, True):
        out = io.StringIO()
        redactor = configure_logging("INFO", json_lines=json_lines, stream=out)
        redactor.add_secret("s3cr3t-token-value")
        log = logging.getLogger("outpost.test")
        log.info("calling https://graph.instagram.com/v25.0/me?access_token=IGQVJabc123&fields=id")
        log.warning("headers: Authorization: Bearer abc.def.ghi")
        log.error("stored token %s failed", "s3cr3t-token-value")
        try:
            raise RuntimeError("refresh failed for page_access_token=EAAB999")
        except RuntimeError:
            log.exception("boom")
        text = out.getvalue()
        for secret in ("IGQVJabc123", "abc.def.ghi", "s3cr3t-token-value", "EAAB999"):
            assert secret not in text
        assert text.count("[redacted]") >= 4
        if json_lines:
            assert all(json.loads(line)["level"] for line in text.strip().splitlines())
    logging.getLogger().handlers[:] = [h for h in logging.getLogger().handlers if not getattr(h, "_outpost", False)]
