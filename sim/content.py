"""Content API v1 (content.twilio.com): the seeded message templates and their WhatsApp approvals."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

from aiohttp import web

from sim import seed
from sim.wire import absolute, iso, not_found, page, respond
from sim.world import world_of

if TYPE_CHECKING:
    from sim.world import World

_PLACEHOLDER = re.compile(r"\{\{\s*([\w.]+)\s*\}\}")
_REJECTION_REASON = "The template's content did not meet WhatsApp's Commerce and Business Policy"


@dataclass
class ContentTemplate:
    sid: str
    friendly_name: str
    language: str
    text: str  # the twilio/text body, with {{name}} placeholders
    variables: dict[str, str]  # placeholder -> default/sample value
    approval: str  # WhatsApp approval status: approved, pending, rejected, unsubmitted, …
    created: float
    category: str = "UTILITY"
    account_sid: str = field(default=seed.ACCOUNT_SID)

    def body(self, variables: Mapping[str, str] | None = None) -> str:
        """The text a recipient gets: each {{name}} replaced by the given value, else the template's default."""
        given = variables or {}

        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            return str(given.get(name, self.variables.get(name, "")))

        return _PLACEHOLDER.sub(fill, self.text)

    def approval_request(self) -> dict[str, Any]:
        return {
            "name": self.friendly_name,
            "category": self.category,
            "content_type": "twilio/text",
            "status": self.approval,
            "rejection_reason": _REJECTION_REASON if self.approval == "rejected" else "",
            "allow_category_change": True,
        }


class ContentDomain:
    def __init__(self, world: World) -> None:
        self.world = world
        created = world.now()
        self.templates: dict[str, ContentTemplate] = {
            t.sid: ContentTemplate(t.sid, t.friendly_name, t.language, t.body, dict(t.variables), t.approval, created)
            for t in seed.TEMPLATES
        }

    def get(self, sid: str) -> ContentTemplate | None:
        return self.templates.get(sid)

    def require(self, sid: str, path: str) -> ContentTemplate:
        template = self.get(sid)
        if template is None:
            raise not_found(path)
        return template


def _base(template: ContentTemplate) -> dict[str, Any]:
    return {
        "sid": template.sid,
        "account_sid": template.account_sid,
        "friendly_name": template.friendly_name,
        "language": template.language,
        "variables": dict(template.variables),
        "types": {"twilio/text": {"body": template.text}},
        "date_created": iso(template.created),
        "date_updated": iso(template.created),
    }


def _content(template: ContentTemplate) -> dict[str, Any]:
    url = absolute(f"/v1/Content/{template.sid}")
    return {
        **_base(template),
        "url": url,
        "links": {"approval_create": f"{url}/ApprovalRequests/whatsapp", "approval_fetch": f"{url}/ApprovalRequests"},
    }


def _templates(request: web.Request) -> list[ContentTemplate]:
    return list(world_of(request).content.templates.values())


async def list_contents(request: web.Request) -> web.Response:
    return page(request, "contents", [_content(t) for t in _templates(request)], max_page_size=1000)


async def fetch_content(request: web.Request) -> web.Response:
    template = world_of(request).content.require(request.match_info["sid"], request.path)
    return respond(_content(template))


async def list_contents_and_approvals(request: web.Request) -> web.Response:
    records = [{**_base(t), "approval_requests": t.approval_request()} for t in _templates(request)]
    return page(request, "contents", records, max_page_size=1000)


async def fetch_approval_requests(request: web.Request) -> web.Response:
    template = world_of(request).content.require(request.match_info["sid"], request.path)
    return respond({
        "sid": template.sid,
        "account_sid": template.account_sid,
        "whatsapp": {"type": "whatsapp", **template.approval_request()},
        "url": absolute(f"/v1/Content/{template.sid}/ApprovalRequests"),
    })


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/Content", list_contents)
    app.router.add_get("/v1/Content/{sid}", fetch_content)
    app.router.add_get("/v1/Content/{sid}/ApprovalRequests", fetch_approval_requests)
    app.router.add_get("/v1/ContentAndApprovals", list_contents_and_approvals)
