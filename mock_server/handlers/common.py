"""Small helpers shared by the handlers."""

from __future__ import annotations

import json
from typing import Any

from werkzeug.wrappers import Response

__all__ = ["json_response"]


def json_response(obj: Any, status: int = 200, content_type: str = "application/json") -> Response:
    """Serialize ``obj`` as UTF-8 JSON."""
    body = json.dumps(obj, ensure_ascii=False, indent=None).encode("utf-8")
    return Response(body, status=status, content_type=content_type)
