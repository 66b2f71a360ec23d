"""tests/contract.py must accept real Twilio-shaped traffic and reject contract breaks."""

from __future__ import annotations

import json
import re
import time
from typing import Any
from urllib.parse import parse_qsl

import pytest
from aiohttp import web
from twilio.rest import Client

from core.twilio_client import RewritingHttpClient
from tests import contract
from tests.contract import (
    KNOWN_QUIRKS,
    Exchange,
    basic_auth,
    check,
    form_pairs,
    load_spec,
    specs_dir,
    specs_location,
    validate,
    validate_request,
)

pytestmark = pytest.mark.skipif(
    specs_dir() is None,
    reason=f"twilio-oai specs not found at {specs_location()} (set TWILIO_OAI_DIR)",
)

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json; charset=utf-8"}
AUTH = basic_auth("AC" + "0" * 32, "auth-token")
NOW = "2026-11-25T11:20:00Z"


def sid(prefix: str, n: int = 1) -> str:
    return prefix + f"{n:032x}"


AC, CH, MB, WS, WW, WQ, TC, KD, UO = (sid(p) for p in ("AC", "CH", "MB", "WS", "WW", "WQ", "TC", "KD", "UO"))
CONV_URL = f"https://conversations.twilio.com/v1/Conversations/{CH}"


def participant_body(**over: Any) -> dict[str, Any]:
    body = {
        "account_sid": AC, "conversation_sid": CH, "sid": MB, "identity": None, "attributes": "{}",
        "messaging_binding": {"type": "sms", "address": "+15551230001", "proxy_address": "+15557650001"},
        "role_sid": None, "date_created": NOW, "date_updated": NOW,
        "url": f"{CONV_URL}/Participants/{MB}",
        "last_read_message_index": None, "last_read_timestamp": None,
    }
    return {**body, **over}


def conversation_body(**over: Any) -> dict[str, Any]:
    body = {
        "sid": CH, "account_sid": AC, "chat_service_sid": sid("IS"), "messaging_service_sid": sid("MG"),
        "friendly_name": "Outbound to +15551230001", "unique_name": None, "attributes": "{}",
        "state": "active", "timers": {}, "bindings": None, "date_created": NOW, "date_updated": NOW,
        "url": CONV_URL,
        "links": {k: f"{CONV_URL}/{v}" for k, v in
                  (("participants", "Participants"), ("messages", "Messages"), ("webhooks", "Webhooks"))},
    }
    return {**body, **over}


def meta(url: str, key: str, next_page_url: str | None = None) -> dict[str, Any]:
    first = f"{url}?PageSize=50&Page=0"
    return {"page": 0, "page_size": 50, "first_page_url": first, "previous_page_url": None,
            "url": first, "next_page_url": next_page_url, "key": key}


def participant_create(**over: Any) -> Exchange:
    fields: dict[str, Any] = dict(
        method="POST", host="conversations.twilio.com", path=f"/v1/Conversations/{CH}/Participants",
        request_headers={**AUTH, **FORM},
        form=[("MessagingBinding.Address", "+15551230001"), ("MessagingBinding.ProxyAddress", "+15557650001")],
        status=201, response_headers=JSON, response_body=json.dumps(participant_body()),
    )
    fields.update(over)
    return Exchange(**fields)


def error_body(code: int, status: int, message: str = "boom", over: dict[str, Any] | None = None) -> str:
    """A Twilio error body; ``over`` replaces fields (value ``...`` leaves the field out)."""
    body: dict[str, Any] = {"code": code, "message": message, "status": status,
                            "more_info": f"https://www.twilio.com/docs/errors/{code}"}
    body.update(over or {})
    return json.dumps({k: v for k, v in body.items() if v is not ...})


def kinds(ex: Exchange, **kw: Any) -> set[tuple[str, str, str]]:
    return {(v.side, v.kind, v.where) for v in check(ex, **kw).violations}


# --- Conversations ------------------------------------------------------------------------------


def test_valid_participant_create_has_no_violations() -> None:
    ex = participant_create()
    assert validate(ex) == []
    # the body carries every documented field, so it also passes the strict mode
    assert validate(ex, strict=True) == []
    result = check(ex)
    assert result.spec == "conversations_v1"
    assert result.operation == "POST /v1/Conversations/{ConversationSid}/Participants"
    assert result.tolerated == []


def test_malformed_response_sid_is_reported() -> None:
    ex = participant_create(response_body=json.dumps(participant_body(sid="MB123")))
    problems = validate(ex)
    assert problems, "a 5-char participant SID must not pass"
    assert all("$.sid" in p and "[response/body]" in p for p in problems)
    assert any("^MB[0-9a-fA-F]{32}$" in p for p in problems)


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("date_created", "2026-11-25 11:20:00", "date-time"),  # not ISO-8601 / RFC 3339
        ("url", "/v1/Conversations/x", "uri"),  # must be absolute
        ("last_read_message_index", "3", "integer"),
        ("conversation_sid", sid("IM"), "^CH"),  # wrong prefix
    ],
)
def test_response_field_format_breaks_are_reported(field: str, value: str, needle: str) -> None:
    problems = validate(participant_create(response_body=json.dumps(participant_body(**{field: value}))))
    assert len(problems) >= 1
    assert all(f"$.{field}" in p for p in problems)
    assert any(needle in p for p in problems)


def test_unknown_state_enum_in_request_is_reported() -> None:
    ex = Exchange("POST", "conversations.twilio.com", "/v1/Conversations",
                  request_headers={**AUTH, **FORM}, form=[("FriendlyName", "x"), ("State", "bogus")],
                  status=201, response_headers=JSON, response_body=json.dumps(conversation_body()))
    assert kinds(ex) == {("request", "body", "State")}
    assert "'bogus' is not one of" in validate(ex)[0]
    ok = Exchange(**{**ex.__dict__, "form": [("FriendlyName", "x"), ("State", "inactive")]})
    assert validate(ok) == []


def test_non_nullable_response_enum_null_is_reported_once() -> None:
    ex = Exchange("GET", "conversations.twilio.com", f"/v1/Conversations/{CH}", request_headers=AUTH,
                  status=200, response_headers=JSON, response_body=json.dumps(conversation_body(state=None)))
    assert validate(ex) == [
        "[response/body] GET /v1/Conversations/{Sid} (conversations_v1) $.state: None for not nullable"]


@pytest.mark.parametrize(
    ("headers", "needle"),
    [
        (FORM, "missing or non-Basic Authorization"),
        ({**FORM, "Authorization": "Bearer abc"}, "missing or non-Basic Authorization"),
        ({**FORM, **basic_auth("ACtest", "x")}, "not an Account SID"),
        ({**FORM, **basic_auth(sid("AC"), "")}, "lack the ':secret' part"),
    ],
)
def test_missing_or_bad_basic_auth_is_reported(headers: dict[str, str], needle: str) -> None:
    ex = participant_create(request_headers=headers)
    result = check(ex)
    assert [(v.side, v.kind) for v in result.violations] == [("request", "security")]
    assert needle in result.violations[0].message


def test_api_key_basic_auth_is_accepted() -> None:
    assert validate(participant_create(request_headers={**FORM, **basic_auth(sid("SK"), "secret")})) == []


def test_conversation_with_participants_repeated_participant_keys_pass() -> None:
    participants = [
        json.dumps({"messaging_binding": {"address": "+15551230001", "proxy_address": "+15557650001"}}),
        json.dumps({"identity": "agent@example.com"}),
    ]
    for status in (201, 202):
        ex = Exchange("POST", "conversations.twilio.com", "/v1/ConversationWithParticipants",
                      request_headers={**AUTH, **FORM, "X-Twilio-Webhook-Enabled": "true"},
                      form=[("FriendlyName", "x"), *(("Participant", p) for p in participants)],
                      status=status, response_headers=JSON,
                      response_body=json.dumps(conversation_body(state="initializing")))
        result = check(ex)
        # openapi-core decodes repeated form keys into the declared array: no quirk needed.
        assert result.violations == [] and result.tolerated == []


def test_single_participant_key_is_a_one_element_array() -> None:
    ex = Exchange("POST", "conversations.twilio.com", "/v1/ConversationWithParticipants",
                  request_headers={**AUTH, **FORM}, form=[("Participant", '{"identity":"a"}')],
                  status=201, response_headers=JSON, response_body=json.dumps(conversation_body()))
    assert validate(ex) == []


def test_repeated_array_form_params_pass_but_repeated_scalars_do_not() -> None:
    hook = f"/v1/Conversations/{CH}/Webhooks"
    webhook_body = {"sid": sid("WH"), "account_sid": AC, "conversation_sid": CH, "target": "webhook",
                    "url": f"{CONV_URL}/Webhooks/{sid('WH')}", "date_created": NOW, "date_updated": NOW,
                    "configuration": {"url": "https://hooks.example/x", "method": "POST",
                                      "filters": ["onMessageAdded", "onConversationUpdated"]}}
    ok = Exchange("POST", "conversations.twilio.com", hook, request_headers={**AUTH, **FORM},
                  form=form_pairs({"Target": "webhook", "Configuration.Url": "https://hooks.example/x",
                                   "Configuration.Method": "post",
                                   "Configuration.Filters": ["onMessageAdded", "onConversationUpdated"],
                                   "Configuration.Triggers": ["stop", "help"],
                                   "Configuration.ReplayAfter": 0}),
                  status=201, response_headers=JSON, response_body=json.dumps(webhook_body))
    assert validate(ok, strict=True) == []
    # A scalar sent twice is ambiguous: the spec does not allow it, and it is reported.
    twice = Exchange(**{**ok.__dict__, "form": [*ok.form, ("Target", "studio")]})
    assert kinds(twice) == {("request", "body", "Target")}
    # Dotted names are validated like any other: enum, required, integer casting.
    bad = Exchange(**{**ok.__dict__, "form": [("Configuration.Method", "PUT")]})
    assert kinds(bad) == {("request", "body", "Configuration.Method"), ("request", "body", "Target")}
    not_int = Exchange(**{**ok.__dict__, "form": [("Target", "studio"), ("Configuration.ReplayAfter", "x")]})
    assert kinds(not_int) == {("request", "body", "Configuration.ReplayAfter")}


def test_strict_mode_reports_misspelt_form_params() -> None:
    ex = participant_create(form=[("MessagingBinding.Adress", "+15551230001")])
    assert validate(ex) == []  # the spec itself allows unknown properties...
    assert kinds(ex, strict=True) == {("request", "undeclared-param", "MessagingBinding.Adress")}


def test_strict_mode_reports_missing_documented_response_fields() -> None:
    body = participant_body()
    del body["role_sid"]
    ex = participant_create(response_body=json.dumps(body))
    assert validate(ex) == []
    assert validate(ex, strict=True) == [
        "[response/body] POST /v1/Conversations/{ConversationSid}/Participants (conversations_v1) "
        "$: 'role_sid' is a required property"]


@pytest.mark.parametrize(("value", "ok"), [("true", True), ("false", True), ("yes", False)])
def test_webhook_enabled_header_is_checked_against_its_enum(value: str, ok: bool) -> None:
    ex = participant_create(request_headers={**AUTH, **FORM, "X-Twilio-Webhook-Enabled": value})
    assert (validate(ex) == []) is ok


def test_sdk_style_content_type_on_get_and_empty_delete_are_fine() -> None:
    get = Exchange("GET", "conversations.twilio.com", f"/v1/Conversations/{CH}",
                   request_headers={**AUTH, **FORM}, status=200, response_headers=JSON,
                   response_body=json.dumps(conversation_body()))
    assert validate(get) == []
    delete = Exchange("DELETE", "conversations.twilio.com", f"/v1/Conversations/{CH}",
                      request_headers={**AUTH, "X-Twilio-Webhook-Enabled": "false"}, status=204)
    assert validate(delete) == []
    assert kinds(Exchange(**{**delete.__dict__, "response_body": "{}"})) == {("response", "body", "")}
    assert kinds(Exchange(**{**get.__dict__, "form": [("a", "b")]})) == {("request", "body", "")}


def test_wrong_success_status_and_missing_content_type_are_reported() -> None:
    assert kinds(participant_create(status=200)) == {("response", "status", "")}
    assert kinds(participant_create(response_headers={})) == {("response", "content-type", "Content-Type")}


# --- errors ---------------------------------------------------------------------------------------


def test_409_binding_error_passes_the_local_error_schema() -> None:
    msg = f"A binding for this participant and proxy address already exists in Conversation {sid('CH', 9)}"
    ex = participant_create(status=409, response_body=error_body(50416, 409, msg))
    result = check(ex)
    assert result.violations == []
    assert [q.id for _, q in result.tolerated] == ["undeclared-error-status"]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (error_body(50416, 409, over={"code": ...}), "'code' is a required property"),
        (error_body(50416, 409, over={"code": "50416"}), "is not of type 'integer'"),
        (error_body(50416, 400), "differs from the HTTP status 409"),
        (error_body(50416, 409, over={"more_info": "see docs"}), "is not a 'uri'"),
        ("Conflict", "error body is not JSON"),
    ],
)
def test_broken_error_bodies_are_reported(body: str, needle: str) -> None:
    problems = validate(participant_create(status=409, response_body=body))
    assert len(problems) == 1 and "[response/error-body]" in problems[0] and needle in problems[0]


def test_unknown_routes_are_reported() -> None:
    nf = dict(status=404, response_headers=JSON, response_body=error_body(20404, 404))
    cases = {
        ("request", "unknown-host"): Exchange("GET", "api.twilio.com", "/2010-04-01/Accounts", **nf),
        ("request", "unknown-path"): Exchange("GET", "conversations.twilio.com", "/v1/Nope", **nf),
        ("request", "unknown-method"): Exchange("PUT", "conversations.twilio.com", "/v1/Conversations", **nf),
    }
    for expected, ex in cases.items():
        assert [(v.side, v.kind) for v in check(ex).violations] == [expected]


# --- TaskRouter, Flex, Content ----------------------------------------------------------------------


def task_record(n: int) -> dict[str, Any]:
    wt = sid("WT", n)
    url = f"https://taskrouter.twilio.com/v1/Workspaces/{WS}/Tasks/{wt}"
    return {
        "account_sid": AC, "age": 25, "assignment_status": "pending",
        "attributes": json.dumps({"conversationSid": CH}), "addons": "{}",
        "date_created": NOW, "date_updated": NOW, "task_queue_entered_date": NOW, "priority": 0,
        "reason": None, "sid": wt, "task_queue_sid": WQ, "task_queue_friendly_name": "Everyone",
        "task_channel_sid": TC, "task_channel_unique_name": "sms", "timeout": 86400,
        "workflow_sid": WW, "workflow_friendly_name": "Assign to Anyone", "workspace_sid": WS,
        "url": url, "links": {"reservations": f"{url}/Reservations", "workspace": url.split("/Tasks")[0]},
        "virtual_start_time": NOW, "ignore_capacity": False, "routing_target": None,
    }


def tasks_list(next_page_url: str | None) -> Exchange:
    base = f"https://taskrouter.twilio.com/v1/Workspaces/{WS}/Tasks"
    return Exchange(
        "GET", "taskrouter.twilio.com", f"/v1/Workspaces/{WS}/Tasks",
        query=[("AssignmentStatus", "pending"), ("AssignmentStatus", "reserved"),
               ("EvaluateTaskAttributes", f'conversationSid == "{CH}"'), ("PageSize", "50")],
        request_headers={**AUTH, **FORM}, status=200, response_headers=JSON,
        response_body=json.dumps({"tasks": [task_record(1), task_record(2)],
                                  "meta": meta(base, "tasks", next_page_url)}),
    )


def test_taskrouter_task_list_with_repeated_query_and_paging_passes() -> None:
    base = f"https://taskrouter.twilio.com/v1/Workspaces/{WS}/Tasks"
    assert validate(tasks_list(None), strict=True) == []
    assert validate(tasks_list(f"{base}?PageSize=50&PageToken=PT1")) == []


def test_taskrouter_relative_next_page_url_and_bad_query_are_reported() -> None:
    assert kinds(tasks_list("/v1/Workspaces/x/Tasks?PageToken=PT1")) == {
        ("response", "body", "$.meta.next_page_url")}
    bad = tasks_list(None)
    bad.query = [("PageSize", "5000"), ("HasAddons", "maybe")]
    assert kinds(bad) == {("request", "parameter", "PageSize"), ("request", "parameter", "HasAddons")}


def test_flex_interaction_create_passes_and_201_does_not() -> None:
    channel = {"type": "sms", "initiated_by": "agent", "properties": {"media_channel_sid": CH}}
    routing = {"properties": {"workspace_sid": WS, "workflow_sid": WW, "task_channel_unique_name": "sms",
                              "attributes": {"direction": "outbound", "customerAddress": "+15551230001"}}}
    task_props = {"sid": sid("WT"), "workspace_sid": WS, "workflow_sid": WW, "queue_sid": WQ,
                  "task_channel_sid": TC, "task_channel_unique_name": "sms", "assignment_status": "pending",
                  "priority": 0, "age": 0, "timeout": 86400, "reason": None,
                  "date_created": 1795605600, "date_updated": 1795605600, "task_queue_entered_date": None,
                  "attributes": json.dumps({"conversationSid": CH, "flexInteractionSid": KD})}
    url = f"https://flex-api.twilio.com/v1/Interactions/{KD}"
    body = {"sid": KD, "channel": {"type": "sms", "sid": UO},
            "routing": {"reservation": None, "properties": task_props},
            "url": url, "links": {"channels": f"{url}/Channels"},
            "interaction_context_sid": None, "webhook_ttid": None}
    ex = Exchange("POST", "flex-api.twilio.com", "/v1/Interactions", request_headers={**AUTH, **FORM},
                  form=[("Channel", json.dumps(channel)), ("Routing", json.dumps(routing))],
                  status=200, response_headers=JSON, response_body=json.dumps(body))
    assert validate(ex, strict=True) == []
    assert kinds(Exchange(**{**ex.__dict__, "status": 201})) == {("response", "status", "")}
    assert kinds(Exchange(**{**ex.__dict__, "form": [("Routing", "{}")]})) == {("request", "body", "Channel")}


def test_content_and_approvals_list_passes() -> None:
    hx = sid("HX")
    record = {
        "date_created": NOW, "date_updated": NOW, "sid": hx, "account_sid": AC,
        "friendly_name": "order_update", "language": "en", "variables": {"1": "Customer_Name"},
        "types": {"twilio/text": {"body": "Hi {{1}}, your order is on its way."}},
        "approval_requests": {"name": "order_update", "category": "UTILITY", "content_type": "twilio/text",
                              "status": "approved", "rejection_reason": "", "allow_category_change": False},
    }
    for version in ("v1", "v2"):
        base = f"https://content.twilio.com/{version}/ContentAndApprovals"
        ex = Exchange("GET", "content.twilio.com", f"/{version}/ContentAndApprovals", query=[("PageSize", "50")],
                      request_headers={**AUTH, **FORM}, status=200, response_headers=JSON,
                      response_body=json.dumps({"contents": [record], "meta": meta(base, "contents")}))
        result = check(ex, strict=True)
        assert result.spec == f"content_{version}"
        assert result.violations == []


# --- the quirk table ------------------------------------------------------------------------------------


def test_quirk_table_is_explicit_narrow_and_justified() -> None:
    ids = [q.id for q in KNOWN_QUIRKS]
    assert len(ids) == len(set(ids))
    for q in KNOWN_QUIRKS:
        assert q.reason.strip() and q.side in {"request", "response"} and q.kind in contract._KINDS
        assert q.message or q.where, f"{q.id} would silence a whole kind of violation"


def test_empty_uri_quirk_applies_only_to_workspace_event_callback_url() -> None:
    ws_url = f"https://taskrouter.twilio.com/v1/Workspaces/{WS}"
    workspace = {"sid": WS, "account_sid": AC, "friendly_name": "Flex", "event_callback_url": "",
                 "date_created": NOW, "date_updated": NOW, "url": ws_url, "links": {"tasks": f"{ws_url}/Tasks"}}
    ex = Exchange("GET", "taskrouter.twilio.com", f"/v1/Workspaces/{WS}", request_headers=AUTH,
                  status=200, response_headers=JSON, response_body=json.dumps(workspace))
    result = check(ex)
    assert result.violations == []
    assert [q.id for _, q in result.tolerated] == ["taskrouter-workspace-empty-event-callback-url"]
    assert kinds(Exchange(**{**ex.__dict__, "response_body": json.dumps({**workspace, "url": ""})})) == {
        ("response", "body", "$.url")}


# Spec examples that contradict their own schema (twilio-oai d50069b4). Everything else in the
# ~490 request/response examples must validate clean: that is the validator's false-positive check.
BROKEN_SPEC_EXAMPLES = {
    ("conversations_v1", "POST /v1/Configuration/Addresses", "createWhatsappCaseInsensitive"),  # 'whAtsAPP'
    ("conversations_v1", "POST /v1/Credentials", "createPushTypeGcm"),  # 'GcM'
    ("conversations_v1", "POST /v1/Credentials", "createPushTypeFcm"),  # 'FcM'
    ("conversations_v1", "GET /v1/Services/{ChatServiceSid}/Configuration/Webhooks", "fetchEmpty"),  # null
    ("flex_v1", "GET /v1/PluginService/Configurations/{ConfigurationSid}/Plugins", "readFull"),  # PV…
    ("flex_v1", "GET /v1/PluginService/Configurations/{ConfigurationSid}/Plugins/{PluginSid}", "fetch"),
    ("flex_v1", "POST /v1/Interactions", "create"),  # InteractionContextSid 'interaction_context_sid'
    ("taskrouter_v1", "POST /v1/Workspaces", "create"),  # EventCallbackUrl '/example'
    ("taskrouter_v1", "POST /v1/Workspaces/{Sid}", "update"),
}


def _example_path(template: str, params: dict[str, Any]) -> str:
    def fill(m: re.Match[str]) -> str:
        pattern = params.get(m.group(1), {}).get("schema", {}).get("pattern", "")
        prefix = re.match(r"\^([A-Z]{2})\[0-9a-fA-F\]\{32\}\$$", pattern)
        return prefix.group(1) + "a" * 32 if prefix else "abc"

    return re.sub(r"\{([^}]+)\}", fill, template)


def test_spec_examples_validate_clean_except_known_broken_ones() -> None:
    failing: set[tuple[str, str, str]] = set()
    checked = 0
    for name in contract.SPEC_FILES:
        spec = load_spec(name)
        host = next(h for h, routes in contract.HOST_ROUTES.items() if name in routes.values())
        for template, item in spec.raw["paths"].items():
            for method, op in item.items():
                if method not in {"get", "post", "put", "delete"}:
                    continue
                params = {p["name"]: p for p in [*item.get("parameters", []), *op.get("parameters", [])]}
                path = _example_path(template, params)
                opname = f"{method.upper()} {template}"
                for ctype, media in op.get("requestBody", {}).get("content", {}).items():
                    for exname, example in (media.get("examples") or {}).items():
                        value = example.get("value", {})
                        kw: dict[str, Any] = ({"form": form_pairs(value)} if ctype.endswith("urlencoded")
                                              else {"request_body": json.dumps(value)})
                        ex = Exchange(method.upper(), host, path,
                                      request_headers={**AUTH, "Content-Type": ctype}, **kw)
                        checked += 1
                        if validate_request(ex):
                            failing.add((name, opname, exname))
                for status, response in op.get("responses", {}).items():
                    for ctype, media in (response.get("content") or {}).items():
                        for exname, example in (media.get("examples") or {}).items():
                            ex = Exchange(method.upper(), host, path, request_headers=AUTH, status=int(status),
                                          response_headers={"Content-Type": ctype},
                                          response_body=json.dumps(example.get("value")))
                            checked += 1
                            if check(ex, request=False).violations:
                                failing.add((name, opname, exname))
    assert checked > 400
    assert failing == BROKEN_SPEC_EXAMPLES


# --- real SDK traffic -----------------------------------------------------------------------------------


class _HostRecordingClient(RewritingHttpClient):
    """The app's HTTP client, also noting the Twilio host each request was meant for."""

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url)
        self.hosts: list[str] = []

    async def request(self, method, url, *args, **kwargs):  # type: ignore[no-untyped-def,override]
        self.hosts.append(url.split("/")[2])
        return await super().request(method, url, *args, **kwargs)


async def test_requests_from_the_twilio_sdk_validate_strictly() -> None:
    captured: list[dict[str, Any]] = []
    list_keys = {"Tasks": "tasks", "ContentAndApprovals": "contents", "ParticipantConversations": "conversations"}

    async def handler(request: web.Request) -> web.Response:
        raw = await request.read()
        captured.append({"method": request.method, "path": request.path, "query": list(request.query.items()),
                         "headers": dict(request.headers),
                         "form": parse_qsl(raw.decode(), keep_blank_values=True)})
        key = list_keys.get(request.path.rsplit("/", 1)[-1])
        body: dict[str, Any] = {key: [], "meta": {"key": key, "next_page_url": None}} if key else {}
        return web.json_response(body, status=200)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    http = _HostRecordingClient(f"http://127.0.0.1:{port}")
    client = Client(sid("AC"), "auth-token", http_client=http)
    try:
        conv = client.conversations.v1
        await conv.conversations(CH).participants.create_async(
            messaging_binding_address="whatsapp:+15551230001",
            messaging_binding_proxy_address="whatsapp:+15557650001", x_twilio_webhook_enabled="true")
        await conv.conversation_with_participants.create_async(
            participant=['{"identity":"a"}', '{"identity":"b"}'], friendly_name="x", state="active")
        await conv.conversations(CH).webhooks.create_async(
            target="webhook", configuration_url="https://hooks.example/x", configuration_method="post",
            configuration_filters=["onMessageAdded", "onConversationUpdated"], configuration_replay_after=0)
        await conv.conversations(CH).messages.create_async(
            author="agent", content_sid=sid("HX"), content_variables='{"1":"Bob"}')
        await conv.conversations(CH).delete_async(x_twilio_webhook_enabled="false")
        await conv.participant_conversations.list_async(address="whatsapp:+15551230001", limit=5)
        await client.taskrouter.v1.workspaces(WS).tasks.list_async(
            assignment_status=["pending", "reserved"], evaluate_task_attributes=f'conversationSid == "{CH}"',
            has_addons=True, limit=5)
        await client.taskrouter.v1.workspaces(WS).tasks(sid("WT")).update_async(
            assignment_status="completed", reason="done", if_match="etag-1")
        await client.flex_api.v1.interaction.create_async(
            channel={"type": "sms", "initiated_by": "agent", "properties": {"media_channel_sid": CH}},
            routing={"properties": {"workspace_sid": WS, "workflow_sid": WW, "attributes": {"a": 1}}})
        await client.content.v1.content_and_approvals.list_async(limit=5)
    finally:
        await http.close()
        await runner.cleanup()

    assert len(captured) == 10
    forms = [c["form"] for c in captured]
    assert [k for k, _ in forms[1]].count("Participant") == 2  # the SDK really repeats the key
    for cap, host in zip(captured, http.hosts, strict=True):
        ex = Exchange(cap["method"], host, cap["path"], query=cap["query"],
                      request_headers=cap["headers"], form=cap["form"])
        assert validate_request(ex, strict=True) == [], (cap["method"], host, cap["path"])


# --- performance -----------------------------------------------------------------------------------------


def test_specs_are_cached_and_validation_is_fast() -> None:
    assert load_spec("conversations_v1") is load_spec("conversations_v1")
    exchanges = [participant_create(), tasks_list(None)] * 50
    start = time.perf_counter()
    for ex in exchanges:
        assert validate(ex) == []
    per_exchange = (time.perf_counter() - start) / len(exchanges)
    assert per_exchange < 0.05, f"{per_exchange * 1000:.1f} ms per exchange"
    stats = contract.timings()
    assert stats["exchanges"] >= len(exchanges)
    assert set(stats["load_seconds"]) >= {"conversations_v1", "taskrouter_v1"}


def test_exchange_from_simulator_url_and_assert_valid() -> None:
    ex = Exchange.from_url(
        "GET", f"http://127.0.0.1:8765/v1/Workspaces/{WS}/Tasks?AssignmentStatus=pending&AssignmentStatus=reserved",
        host="taskrouter.twilio.com", query=[("PageSize", "50")], request_headers=AUTH, status=200,
        response_headers=JSON, response_body=tasks_list(None).response_body)
    assert (ex.host, ex.path) == ("taskrouter.twilio.com", f"/v1/Workspaces/{WS}/Tasks")
    assert ex.query == [("AssignmentStatus", "pending"), ("AssignmentStatus", "reserved"), ("PageSize", "50")]
    contract.assert_valid(ex)
    ex.response_body = json.dumps({"tasks": [task_record(1) | {"assignment_status": "queued"}]})
    with pytest.raises(AssertionError, match=r"\$\.tasks\[0\]\.assignment_status: 'queued' is not one of"):
        contract.assert_valid(ex)
