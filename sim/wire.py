"""Twilio's wire format: SIDs, dates, absolute URLs, paging, error bodies, form parsing."""

from __future__ import annotations

import base64
import json
import random
from datetime import UTC, datetime
from typing import Any, Sequence
from urllib.parse import urlencode

from aiohttp import web
from multidict import MultiDict, MultiDictProxy

# Paths are unique per product, so the product (and its public host) follows from the prefix.
PRODUCT_HOSTS: tuple[tuple[str, str], ...] = (
    ("/v1/Conversations", "conversations.twilio.com"),
    ("/v1/Configuration/Webhooks", "conversations.twilio.com"),
    ("/v1/ConversationWithParticipants", "conversations.twilio.com"),
    ("/v1/ParticipantConversations", "conversations.twilio.com"),
    ("/v1/Services", "conversations.twilio.com"),
    ("/v1/Interactions", "flex-api.twilio.com"),
    ("/v1/Workspaces", "taskrouter.twilio.com"),
    ("/v1/ContentAndApprovals", "content.twilio.com"),
    ("/v1/Content", "content.twilio.com"),
    ("/v2/Content", "content.twilio.com"),
    ("/v2/ContentAndApprovals", "content.twilio.com"),
    ("/v2/Flows", "studio.twilio.com"),
)


def host_for(path: str) -> str:
    for prefix, host in PRODUCT_HOSTS:
        if path == prefix or path.startswith(prefix + "/") or path.startswith(prefix + "?"):
            return host
    return "api.twilio.com"


def absolute(path: str) -> str:
    """The public URL Twilio would put in `url`, `links` and `meta` for this path."""
    return f"https://{host_for(path)}{path}"


class SidFactory:
    """Makes Twilio-shaped SIDs: a two-letter prefix and 32 hex digits."""

    def __init__(self, seed: int | None = None) -> None:
        self._random = random.Random(seed)

    def __call__(self, prefix: str) -> str:
        return prefix + f"{self._random.getrandbits(128):032x}"


def iso(epoch: float) -> str:
    """ISO-8601 in UTC, second precision, as Conversations and TaskRouter answer."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class TwilioError(Exception):
    """An error answered in Twilio's JSON shape: {code, message, more_info, status}."""

    def __init__(self, status: int, code: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def response(self) -> web.Response:
        body = {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }
        return web.json_response(body, status=self.status, headers=self.headers)


def not_found(path: str) -> TwilioError:
    return TwilioError(404, 20404, f"The requested resource {path} was not found")


def bad_request(message: str, code: int = 21201) -> TwilioError:
    return TwilioError(400, code, message)


def invalid(message: str) -> TwilioError:
    """A parameter value Twilio would refuse, where no more specific code is documented."""
    return TwilioError(400, 20001, message)


async def read_form(request: web.Request) -> MultiDictProxy[str]:
    """Form parameters of a POST (repeated keys kept, in order)."""
    if request.method != "POST":
        return MultiDictProxy(MultiDict())
    # request.post() caches the parsed form; the middleware has usually read the body already, so
    # `can_read_body` is False by now and must not be consulted.
    data = await request.post()
    return MultiDictProxy(MultiDict((k, v) for k, v in data.items() if isinstance(v, str)))


def json_param(form: MultiDictProxy[str], name: str, default: Any = None) -> Any:
    """A JSON-valued form parameter (Attributes, Channel, Routing, …), 400 when malformed."""
    raw = form.get(name)
    if raw is None:
        return default
    try:
        return json.loads(raw)
    except ValueError:
        raise bad_request(f"Parameter '{name}' is not valid JSON") from None


def json_object(raw: str) -> dict[str, Any] | None:
    """The JSON object `raw` holds, or None when it is not JSON or not an object."""
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def bool_param(value: str | None) -> bool | None:
    if value is None:
        return None
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise bad_request(f"'{value}' is not a valid boolean")


def respond(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(body, status=status)


def _token(offset: int) -> str:
    return "PT" + base64.urlsafe_b64encode(str(offset).encode()).decode().rstrip("=")


def _offset(token: str) -> int:
    try:
        if not token.startswith("PT"):
            raise ValueError
        raw = token[2:]
        return int(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode())
    except ValueError:
        raise invalid(f"Invalid PageToken '{token}'") from None


def page(
    request: web.Request,
    key: str,
    records: Sequence[dict[str, Any]],
    max_page_size: int = 50,
    default_page_size: int = 50,
) -> web.Response:
    """One page of a list, with Twilio's `meta` block and absolute paging URLs that carry the filters."""
    query = request.query
    try:
        page_size = int(query.get("PageSize", default_page_size))
        page_number = int(query.get("Page", 0))
    except ValueError:
        raise invalid("PageSize and Page must be integers") from None
    if not 1 <= page_size <= max_page_size:
        raise invalid(f"PageSize must be between 1 and {max_page_size}")
    offset = _offset(query["PageToken"]) if "PageToken" in query else 0
    filters = [(k, v) for k, v in query.items() if k not in ("PageSize", "Page", "PageToken")]

    def url(number: int, token_offset: int | None) -> str:
        params = [*filters, ("PageSize", str(page_size)), ("Page", str(number))]
        if token_offset is not None:
            params.append(("PageToken", _token(token_offset)))
        return absolute(request.path) + "?" + urlencode(params)

    chunk = list(records[offset : offset + page_size])
    has_next = offset + page_size < len(records)
    meta = {
        "page": page_number,
        "page_size": page_size,
        "first_page_url": url(0, None),
        "previous_page_url": url(page_number - 1, max(offset - page_size, 0)) if offset > 0 else None,
        "url": url(page_number, offset if offset else None),
        "next_page_url": url(page_number + 1, offset + page_size) if has_next else None,
        "key": key,
    }
    return web.json_response({key: chunk, "meta": meta})


def dumps_compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def repeated(form: MultiDictProxy[str], name: str) -> list[str]:
    return list(form.getall(name, []))
