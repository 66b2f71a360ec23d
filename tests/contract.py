"""Contract validation of Twilio REST exchanges against Twilio's own OpenAPI specs.

An :class:`Exchange` is one HTTP request + response as seen on the wire (for example between the
twilio SDK and the embedded simulator). :func:`validate` checks both halves against the
twilio-oai spec of the product host (``docs/twilio-contract.md`` §0, §8) with openapi-core and
returns human-readable violations (``[]`` = conforms)::

    from tests.contract import Exchange, basic_auth, specs_dir, validate

    if specs_dir() is None:
        pytest.skip(f"twilio-oai specs not found at {specs_location()}")
    problems = validate(Exchange(method="POST", host="conversations.twilio.com",
                                 path="/v1/Conversations", request_headers=basic_auth(),
                                 form=[("FriendlyName", "x")], status=201,
                                 response_headers={"Content-Type": "application/json"},
                                 response_body=json.dumps(body)))
    assert problems == []

What is checked beyond plain openapi-core (all narrow, all listed in :data:`KNOWN_QUIRKS` or below):

* error responses (4xx/5xx): the specs declare none, so a status >= 400 that the operation does not
  declare is checked against :data:`TWILIO_ERROR_SCHEMA` instead (``code`` int, ``message`` str,
  ``more_info`` str, ``status`` int equal to the HTTP status);
* ``format: uri`` is enforced (jsonschema silently skips it unless ``rfc3987`` is installed): an
  absolute URI is required, so relative ``url`` / ``meta.next_page_url`` values are violations;
* the Basic ``Authorization`` header must decode to ``<AC|SK sid>:<secret>`` (the spec only says
  "basic"; openapi-core only checks the scheme word);
* a 204 response must have an empty body; GET/DELETE requests must not carry a body (the twilio
  SDK's ``Content-Type: application/x-www-form-urlencoded`` header on GETs is fine, only a
  non-empty body is flagged).

``strict=True`` additionally flags request parameters (query or form) the operation does not
declare (the real API silently ignores e.g. a misspelt ``MessagingBinding.Adress``) and response
objects missing a documented property (real Twilio always sends every field, ``null`` when unset).

Array form parameters (``Participant``, ``Configuration.Filters``, ``Configuration.Triggers``) sent
as repeated keys are *not* a problem here: unlike Prism, openapi-core decodes
``application/x-www-form-urlencoded`` bodies with OpenAPI's default ``style: form, explode: true``,
i.e. repeated keys become a list (one key becomes a one-element list), so no quirk entry is needed.
Query arrays (``AssignmentStatus``) work the same way.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import jsonschema
from jsonschema_path import SchemaPath
from openapi_core.casting.schemas import oas30_types_caster
from openapi_core.casting.schemas.exceptions import CastError
from openapi_core.casting.schemas.factories import SchemaCastersFactory
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.media_types.exceptions import MediaTypeNotFound
from openapi_core.templating.paths.finders import APICallPathFinder
from openapi_core.validation.schemas.factories import SchemaValidatorsFactory
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.templating.security.exceptions import SecurityNotFound
from openapi_core.validation.request.exceptions import (
    MissingRequiredParameter,
    MissingRequiredRequestBody,
    ParameterValidationError,
    RequestBodyValidationError,
    SecurityValidationError,
)
from openapi_core.validation.request.validators import V30RequestValidator
from openapi_core.validation.response.exceptions import (
    DataValidationError,
    HeaderValidationError,
    MissingData,
)
from openapi_core.validation.response.validators import V30ResponseValidator
from openapi_schema_validator import OAS30ReadValidator, OAS30WriteValidator
from werkzeug.datastructures import Headers, ImmutableMultiDict

__all__ = [
    "Exchange",
    "HOST_ROUTES",
    "KNOWN_QUIRKS",
    "LoadedSpec",
    "Quirk",
    "Result",
    "SPEC_FILES",
    "TWILIO_ERROR_SCHEMA",
    "Violation",
    "assert_valid",
    "basic_auth",
    "check",
    "form_pairs",
    "load_spec",
    "spec_name_for",
    "specs_dir",
    "specs_location",
    "timings",
    "validate",
    "validate_request",
    "validate_response",
]

# --------------------------------------------------------------------------------------------
# Spec files and routing
# --------------------------------------------------------------------------------------------

SPEC_FILES: dict[str, str] = {
    "conversations_v1": "twilio_conversations_v1.json",
    "flex_v1": "twilio_flex_v1.json",
    "flex_v2": "twilio_flex_v2.json",
    "taskrouter_v1": "twilio_taskrouter_v1.json",
    "content_v1": "twilio_content_v1.json",
    "content_v2": "twilio_content_v2.json",
    "studio_v2": "twilio_studio_v2.json",
}

# product host -> {first path segment (API version): spec name}
HOST_ROUTES: dict[str, dict[str, str]] = {
    "conversations.twilio.com": {"v1": "conversations_v1"},
    "flex-api.twilio.com": {"v1": "flex_v1", "v2": "flex_v2"},
    "taskrouter.twilio.com": {"v1": "taskrouter_v1"},
    "content.twilio.com": {"v1": "content_v1", "v2": "content_v2"},
    "studio.twilio.com": {"v2": "studio_v2"},
}

_REPO = Path(__file__).resolve().parent.parent


def specs_location() -> Path:
    """Where the specs are looked for: ``$TWILIO_OAI_DIR`` or ``<repo>/../shared/twilio-oai``."""
    env = os.environ.get("TWILIO_OAI_DIR")
    if env:
        return Path(env).expanduser()
    return _REPO.parent / "shared" / "twilio-oai"


def specs_dir() -> Path | None:
    """The specs directory, or None when it (or the Conversations spec in it) is absent."""
    where = specs_location()
    if (where / SPEC_FILES["conversations_v1"]).is_file():
        return where
    return None


def spec_name_for(host: str, path: str) -> str | None:
    """Spec covering ``host`` + ``path`` (e.g. ``content_v2`` for content.twilio.com/v2/...)."""
    routes = HOST_ROUTES.get(host.lower().split(":", 1)[0])
    if not routes:
        return None
    version = path.lstrip("/").split("/", 1)[0]
    return routes.get(version)


# --------------------------------------------------------------------------------------------
# Exchange, violations, quirks
# --------------------------------------------------------------------------------------------


@dataclass
class Exchange:
    """One request/response pair. ``host`` is the *product* host, never the simulator's."""

    method: str
    host: str
    path: str
    query: list[tuple[str, str]] = field(default_factory=list)
    request_headers: dict[str, str] = field(default_factory=dict)
    form: list[tuple[str, str]] = field(default_factory=list)
    status: int = 200
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: str = ""
    # Raw request body for the rare non-form requests (Content API JSON create). Ignored if ``form``.
    request_body: str | None = None

    @classmethod
    def from_url(cls, method: str, url: str, *, host: str | None = None, **kw: Any) -> "Exchange":
        """Build from an absolute URL; ``host`` overrides the URL host (simulator -> product host).

        Query pairs in the URL are prepended to ``query=`` if that is given too.
        """
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True) + list(kw.pop("query", []))
        return cls(method=method, host=host or parts.hostname or "", path=parts.path or "/",
                   query=query, **kw)

    @property
    def url(self) -> str:
        q = f"?{urlencode(self.query)}" if self.query else ""
        return f"https://{self.host}{self.path}{q}"


@dataclass(frozen=True)
class Violation:
    side: str  # "request" | "response"
    kind: str  # see _KINDS
    where: str  # parameter/header name, form key, or JSON path like "$.meta.url"; "" if n/a
    message: str
    operation: str = ""  # "POST /v1/Conversations/{ConversationSid}/Participants"
    spec: str = ""  # spec name, e.g. "conversations_v1"

    def __str__(self) -> str:
        op = f"{self.operation} " if self.operation else ""
        where = f"{self.where}: " if self.where else ""
        return f"[{self.side}/{self.kind}] {op}({self.spec or 'no spec'}) {where}{self.message}"


# Violation kinds:
#   request:  unknown-host, unknown-path, unknown-method, security, parameter, body, content-type,
#             undeclared-param (strict only)
#   response: status, body, content-type, error-body, headers
_KINDS = frozenset(
    "unknown-host unknown-path unknown-method security parameter body content-type "
    "undeclared-param status error-body headers".split()
)


@dataclass(frozen=True)
class Quirk:
    """A narrowly scoped, justified tolerance of a spec defect.

    A violation is tolerated when *every* given field matches; ``None`` means "any". ``operation``
    is "METHOD /template" exactly as in the spec; ``where`` and ``message`` are regexes
    (``re.fullmatch`` for ``where``, ``re.search`` for ``message``).
    """

    id: str
    spec: str | None
    operation: str | None
    side: str
    kind: str
    where: str | None
    message: str | None
    reason: str

    def matches(self, v: Violation) -> bool:
        return (
            (self.spec is None or self.spec == v.spec)
            and (self.operation is None or self.operation == v.operation)
            and self.side == v.side
            and self.kind == v.kind
            and (self.where is None or re.fullmatch(self.where, v.where) is not None)
            and (self.message is None or re.search(self.message, v.message) is not None)
        )


# Every tolerated deviation from the specs lives here, and nowhere else. Things that are
# *handled* rather than tolerated (error responses -> local schema) are listed too, with the kind
# of violation they replace, so the whole policy is readable in one place.
KNOWN_QUIRKS: tuple[Quirk, ...] = (
    Quirk(
        id="undeclared-error-status",
        spec=None, operation=None, side="response", kind="status", where=None,
        message=r"^status [45]\d\d not declared",
        reason="twilio-oai declares no error responses at all; a 4xx/5xx is checked against "
        "TWILIO_ERROR_SCHEMA instead (a violation of that is reported as kind 'error-body').",
    ),
    Quirk(
        id="taskrouter-workspace-empty-event-callback-url",
        spec="taskrouter_v1", operation=None, side="response", kind="body",
        where=r"\$(\.workspaces\[\d+\])?\.event_callback_url", message=r"^'' is not a 'uri'$",
        reason="Workspace event_callback_url is format uri, yet the spec's own fetch/create/update/"
        "read examples return '' when no callback is set.",
    ),
)


@dataclass
class Result:
    spec: str | None
    operation: str | None
    violations: list[Violation]
    tolerated: list[tuple[Violation, Quirk]]

    @property
    def ok(self) -> bool:
        return not self.violations

    def messages(self) -> list[str]:
        return [str(v) for v in self.violations]


TWILIO_ERROR_SCHEMA: dict[str, Any] = {
    # docs/twilio-contract.md §0.2: {code, message, more_info, status} (+ optional details)
    "type": "object",
    "required": ["code", "message", "more_info", "status"],
    "properties": {
        "code": {"type": "integer"},
        "message": {"type": "string", "minLength": 1},
        "more_info": {"type": "string", "format": "uri"},
        "status": {"type": "integer"},
        "details": {"type": ["object", "null"]},
    },
}

# --------------------------------------------------------------------------------------------
# openapi-core plumbing
# --------------------------------------------------------------------------------------------

_URI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S*$")


def _is_uri(value: object) -> bool:
    """JSON-Schema ``format: uri`` = an absolute RFC 3986 URI; http(s) needs a host too."""
    if not isinstance(value, str):
        return True
    if not _URI_SCHEME.match(value):
        return False
    parts = urlsplit(value)
    return parts.scheme.lower() not in ("http", "https") or bool(parts.hostname)


def _is_uri_map(value: object) -> bool:
    """twilio-oai's ``format: uri-map`` (the ``links`` objects): every value an absolute URI."""
    if not isinstance(value, dict):
        return True
    return all(isinstance(v, str) and _is_uri(v) for v in value.values())


_EXTRA_FORMATS = {"uri": _is_uri, "uri-map": _is_uri_map}
_FORMAT_CHECKER = jsonschema.FormatChecker()
_FORMAT_CHECKER.checks("uri")(_is_uri)


class _CachedFormatsFactory(SchemaValidatorsFactory):
    """openapi-core deep-copies its FormatChecker for *every* schema it validates or casts
    (~25 % of the per-exchange time); the checker is never mutated afterwards, so build it once
    per format config. Used for both validation and casting (see _RequestValidator)."""

    def __init__(self, validator_cls: Any):
        super().__init__(validator_cls)
        self._checkers: dict[tuple[int, int], tuple[Any, Any, Any]] = {}

    def get_format_checker(self, format_validators=None, extra_format_validators=None):  # noqa: ANN001
        key = (id(format_validators), id(extra_format_validators))
        hit = self._checkers.get(key)
        if hit is None:
            checker = super().get_format_checker(format_validators, extra_format_validators)
            # keep the dicts alive so their ids cannot be reused
            hit = (checker, format_validators, extra_format_validators)
            self._checkers[key] = hit
        return hit[0]


class _CachingPathFinder(APICallPathFinder):
    """We always hand openapi-core the matched *template* (``path_pattern``), so lookups repeat
    per (method, template) and can be memoised; misses raise and are not cached."""

    def __init__(self, spec: SchemaPath, base_url: str | None = None):
        super().__init__(spec, base_url=base_url)
        self._cache: dict[tuple[str, str], Any] = {}

    def find(self, method: str, name: str):  # noqa: ANN201
        key = (method, name)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = super().find(method, name)
        return hit


_WRITE_VALIDATORS = _CachedFormatsFactory(OAS30WriteValidator)
_READ_VALIDATORS = _CachedFormatsFactory(OAS30ReadValidator)


class _RequestValidator(V30RequestValidator):
    schema_validators_factory = _WRITE_VALIDATORS
    schema_casters_factory = SchemaCastersFactory(_WRITE_VALIDATORS, oas30_types_caster)
    path_finder_cls = _CachingPathFinder


class _ResponseValidator(V30ResponseValidator):
    schema_validators_factory = _READ_VALIDATORS
    schema_casters_factory = SchemaCastersFactory(_READ_VALIDATORS, oas30_types_caster)
    path_finder_cls = _CachingPathFinder


class _Request:
    """openapi-core ``Request`` + ``SupportsPathPattern`` protocol object."""

    def __init__(self, ex: Exchange, template: str, variables: dict[str, str]):
        self.host_url = f"https://{ex.host}"
        self.path = ex.path
        self.path_pattern = template
        self.method = ex.method.lower()
        headers = Headers(list(ex.request_headers.items()))
        self.content_type = (headers.get("Content-Type") or "").lower()
        self.body = _request_body(ex)
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(list(ex.query)),
            header=headers,
            cookie=ImmutableMultiDict(),
            path=variables,
        )


class _Response:
    def __init__(self, ex: Exchange):
        self.status_code = ex.status
        self.headers = Headers(list(ex.response_headers.items()))
        self.content_type = (self.headers.get("Content-Type") or "").lower()
        self.data = ex.response_body.encode("utf-8") if ex.response_body else b""


def _request_body(ex: Exchange) -> bytes:
    if ex.form:
        return urlencode(list(ex.form)).encode("ascii")
    if ex.request_body:
        return ex.request_body.encode("utf-8")
    return b""


@dataclass
class _Template:
    template: str
    regex: re.Pattern[str]
    names: list[str]
    methods: frozenset[str]


class LoadedSpec:
    """One parsed spec with its validators and a precompiled path-template index."""

    def __init__(self, name: str, file: Path):
        t0 = time.perf_counter()
        with file.open("rb") as fh:
            self.raw: dict[str, Any] = json.load(fh)
        self.name = name
        self.file = file
        # No self-check of the spec (openapi-spec-validator needs ~0.3 s for the 0.85 MB
        # Conversations file): the files are pinned upstream artefacts. SchemaPath is lazy.
        self.schema_path = SchemaPath.from_dict(self.raw)
        self.request_validator = _RequestValidator(
            self.schema_path, extra_format_validators=_EXTRA_FORMATS)
        self.response_validator = _ResponseValidator(
            self.schema_path, extra_format_validators=_EXTRA_FORMATS)
        self.strict_response_validator = _ResponseValidator(
            self.schema_path, extra_format_validators=_EXTRA_FORMATS,
            enforce_properties_required=True)
        self._templates: dict[int, list[_Template]] = {}
        self._declared: dict[tuple[str, str], tuple[dict[str, bool], dict[str, bool]]] = {}
        for template, item in self.raw["paths"].items():
            names: list[str] = []

            def repl(m: re.Match[str]) -> str:
                names.append(m.group(1))
                return f"(?P<g{len(names) - 1}>[^/]+)"

            pattern = re.sub(r"\\\{([^}]+)\\\}", repl, re.escape(template))
            methods = frozenset(k for k in item if k in {"get", "post", "put", "patch", "delete"})
            self._templates.setdefault(template.count("/"), []).append(
                _Template(template, re.compile(pattern), names, methods))
        for bucket in self._templates.values():  # most literal first, like openapi-core
            bucket.sort(key=lambda t: len(t.names))
        self.load_seconds = time.perf_counter() - t0

    def match(self, path: str) -> tuple[_Template, dict[str, str]] | None:
        for tpl in self._templates.get(path.count("/"), ()):
            m = tpl.regex.fullmatch(path)
            if m:
                return tpl, {n: unquote(m.group(f"g{i}")) for i, n in enumerate(tpl.names)}
        return None

    def operation(self, method: str, template: str) -> dict[str, Any]:
        return self.raw["paths"][template][method.lower()]

    def declared_params(self, method: str, template: str) -> tuple[dict[str, bool], dict[str, bool]]:
        """({query param: is array}, {form/body property: is array}) declared by the operation."""
        key = (method.lower(), template)
        hit = self._declared.get(key)
        if hit is not None:
            return hit
        item = self.raw["paths"][template]
        op = item[method.lower()]
        query = {p["name"]: self._resolve(p.get("schema", {})).get("type") == "array"
                 for p in [*item.get("parameters", []), *op.get("parameters", [])]
                 if p.get("in") == "query"}
        form: dict[str, bool] = {}
        for media in op.get("requestBody", {}).get("content", {}).values():
            props = self._resolve(media.get("schema", {})).get("properties", {})
            form.update({k: self._resolve(v).get("type") == "array" for k, v in props.items()})
        hit = self._declared[key] = (query, form)
        return hit

    def _resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        ref = schema.get("$ref")
        if not ref:
            return schema
        node: Any = self.raw
        for part in ref.lstrip("#/").split("/"):
            node = node[part]
        return node


_SPECS: dict[str, LoadedSpec] = {}
_SPECS_LOCK = threading.Lock()


def load_spec(name: str) -> LoadedSpec:
    """Load (once per process) and return the named spec; raises FileNotFoundError if absent."""
    spec = _SPECS.get(name)
    if spec is not None:
        return spec
    with _SPECS_LOCK:
        spec = _SPECS.get(name)
        if spec is None:
            base = specs_dir()
            if base is None:
                raise FileNotFoundError(f"twilio-oai specs not found at {specs_location()}")
            spec = _SPECS[name] = LoadedSpec(name, base / SPEC_FILES[name])
    return spec


_STATS = {"exchanges": 0, "seconds": 0.0}


def timings() -> dict[str, Any]:
    """Spec load times (s) and validation totals so far in this process."""
    n = _STATS["exchanges"]
    return {
        "load_seconds": {name: round(s.load_seconds, 4) for name, s in _SPECS.items()},
        "exchanges": n,
        "validate_seconds": round(_STATS["seconds"], 4),
        "ms_per_exchange": round(1000 * _STATS["seconds"] / n, 3) if n else None,
    }


# --------------------------------------------------------------------------------------------
# Turning openapi-core exceptions into violations
# --------------------------------------------------------------------------------------------


def _json_path(path: Iterable[Any]) -> str:
    out = "$"
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else f".{p}"
    return out


def _schema_errors(exc: BaseException | None) -> list[Any]:
    while exc is not None:
        errs = getattr(exc, "schema_errors", None)
        if errs is not None:
            return list(errs)
        exc = exc.__cause__
    return []


def _root_cause(exc: BaseException) -> BaseException:
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


def _find_cause(exc: BaseException, cls: type) -> Any:
    cur: BaseException | None = exc
    while cur is not None:
        if isinstance(cur, cls):
            return cur
        cur = cur.__cause__
    return None


def _cast_where(ex: Exchange, cause: BaseException) -> str:
    """CastError does not say which form key failed; find the key(s) carrying that value."""
    value = getattr(cause, "value", None)
    keys = [k for k, v in ex.form if v == value]
    return ",".join(dict.fromkeys(keys))


def _request_violations(exc: Exception, ex: Exchange) -> Iterator[tuple[str, str, str]]:
    """(kind, where, message) for one openapi-core request error."""
    if isinstance(exc, (SecurityValidationError, SecurityNotFound)):
        yield "security", "Authorization", (
            "missing or non-Basic Authorization header (spec requires HTTP Basic auth)")
        return
    if isinstance(exc, MissingRequiredParameter):
        yield "parameter", exc.name, f"required {exc.location} parameter is missing"
        return
    if isinstance(exc, ParameterValidationError):
        errs = _schema_errors(exc)
        if errs:
            for e in errs:
                yield "parameter", exc.name, f"{exc.location} parameter: {e.message}"
        else:
            yield "parameter", exc.name, f"{exc.location} parameter: {_root_cause(exc)}"
        return
    if isinstance(exc, MissingRequiredRequestBody):
        yield "body", "", "required request body is missing"
        return
    if isinstance(exc, RequestBodyValidationError):
        mt = _find_cause(exc, MediaTypeNotFound)
        if mt is not None:
            yield "content-type", "Content-Type", (
                f"request Content-Type {mt.mimetype!r} not accepted "
                f"(spec: {mt.availableMimetypes})")
            return
        cast = _find_cause(exc, CastError)
        if cast is not None:
            yield "body", _cast_where(ex, cast), (
                f"{cast.value!r} is not a valid {cast.type} (further body checks skipped)")
            return
        cause = _root_cause(exc)
        errs = _schema_errors(exc)
        if not errs:
            yield "body", "", f"{type(cause).__name__}: {cause}"
            return
        for e in errs:
            path = list(e.path)
            if path:
                at = f" (at {_json_path(path[1:])})" if len(path) > 1 else ""
                yield "body", str(path[0]), f"{e.message}{at}"
            else:
                m = re.match(r"'([^']+)' is a required property", e.message)
                yield "body", m.group(1) if m else "", e.message
        return
    yield "body", "", f"{type(exc).__name__}: {exc}"


def _response_violations(exc: Exception) -> Iterator[tuple[str, str, str]]:
    if isinstance(exc, ResponseNotFound):
        yield "status", "", (f"status {exc.http_status} not declared "
                             f"(spec declares {exc.availableresponses})")
        return
    if isinstance(exc, MissingData):
        yield "body", "", "response body is empty but the spec declares JSON content"
        return
    if isinstance(exc, DataValidationError):
        mt = _find_cause(exc, MediaTypeNotFound)
        if mt is not None:
            yield "content-type", "Content-Type", (
                f"response Content-Type {mt.mimetype!r} not declared "
                f"(spec: {mt.availableMimetypes})")
            return
        cause = _root_cause(exc)
        errs = _schema_errors(exc)
        if not errs:
            yield "body", "", f"{type(cause).__name__}: {cause}"
            return
        for e in errs:
            yield "body", _json_path(e.path), e.message
        return
    if isinstance(exc, HeaderValidationError):
        yield "headers", exc.name, f"{type(exc).__name__}: {_root_cause(exc)}"
        return
    yield "body", "", f"{type(exc).__name__}: {exc}"


# --------------------------------------------------------------------------------------------
# Local (non-spec) checks
# --------------------------------------------------------------------------------------------

_AUTH_USER = re.compile(r"^(AC|SK)[0-9a-fA-F]{32}$")


def _auth_problem(headers: Mapping[str, str]) -> str | None:
    value = Headers(list(headers.items())).get("Authorization")
    if not value or not value.lower().startswith("basic "):
        return None  # reported by openapi-core's security check
    try:
        decoded = base64.b64decode(value.split(" ", 1)[1].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return "Basic credentials are not valid base64 of 'user:secret'"
    user, sep, secret = decoded.partition(":")
    if not sep or not secret:
        return "Basic credentials lack the ':secret' part"
    if not _AUTH_USER.match(user):
        return f"Basic user {user!r} is not an Account SID (AC…) or API key SID (SK…)"
    return None


def _error_body_problems(ex: Exchange) -> list[str]:
    ctype = Headers(list(ex.response_headers.items())).get("Content-Type") or ""
    problems = []
    if ctype.split(";", 1)[0].strip().lower() != "application/json":
        problems.append(f"error response Content-Type {ctype!r} is not application/json")
    try:
        body = json.loads(ex.response_body)
    except ValueError:
        return [*problems, f"error body is not JSON: {ex.response_body[:80]!r}"]
    validator = jsonschema.Draft7Validator(TWILIO_ERROR_SCHEMA, format_checker=_FORMAT_CHECKER)
    for e in sorted(validator.iter_errors(body), key=lambda e: list(e.path)):
        problems.append(f"{_json_path(e.path)}: {e.message}")
    if isinstance(body, dict) and isinstance(body.get("status"), int) and body["status"] != ex.status:
        problems.append(f"$.status: {body['status']} differs from the HTTP status {ex.status}")
    return problems


# --------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------


def check(ex: Exchange, *, request: bool = True, response: bool = True,
          strict: bool = False) -> Result:
    """Validate ``ex``; returns a :class:`Result` with violations and tolerated quirks."""
    t0 = time.perf_counter()
    try:
        return _check(ex, request=request, response=response, strict=strict)
    finally:
        _STATS["exchanges"] += 1
        _STATS["seconds"] += time.perf_counter() - t0


def _check(ex: Exchange, *, request: bool, response: bool, strict: bool) -> Result:
    raw: list[Violation] = []
    spec_name = spec_name_for(ex.host, ex.path)
    method = ex.method.upper()

    def add(side: str, kind: str, where: str, message: str, operation: str = "") -> None:
        raw.append(Violation(side, kind, where, message, operation, spec_name or ""))

    def finish(operation: str | None) -> Result:
        bad: list[Violation] = []
        tolerated: list[tuple[Violation, Quirk]] = []
        # a null in a non-nullable field also fails its type/enum checks; report it once
        nulls = {(v.side, v.where) for v in raw if v.message == "None for not nullable"}
        for v in raw:
            if (v.side, v.where) in nulls and v.message.startswith("None ") \
                    and v.message != "None for not nullable":
                continue
            q = next((q for q in KNOWN_QUIRKS if q.matches(v)), None)
            if q is None:
                bad.append(v)
            else:
                tolerated.append((v, q))
        return Result(spec_name, operation, bad, tolerated)

    def error_body() -> None:
        for p in _error_body_problems(ex):
            add("response", "error-body", "", p, operation or "")

    operation: str | None = None
    if spec_name is None:
        if request:
            host = ex.host.lower().split(":", 1)[0]
            if host in HOST_ROUTES:
                add("request", "unknown-path", "", f"{host} has no API version for {ex.path} "
                    f"(known: {sorted(HOST_ROUTES[host])})")
            else:
                add("request", "unknown-host", "", f"no spec covers https://{ex.host}{ex.path} "
                    f"(known hosts: {sorted(HOST_ROUTES)})")
        if response and ex.status >= 400:
            error_body()
        return finish(None)

    spec = load_spec(spec_name)
    found = spec.match(ex.path)
    if found is None:
        if request:
            add("request", "unknown-path", "", f"no path template in {spec_name} matches {ex.path}")
        if response and ex.status >= 400:
            error_body()
        return finish(None)
    tpl, variables = found
    operation = f"{method} {tpl.template}"
    if method.lower() not in tpl.methods:
        if request:
            add("request", "unknown-method", "",
                f"{tpl.template} has no {method} (spec has {sorted(m.upper() for m in tpl.methods)})",
                operation)
        if response and ex.status >= 400:
            error_body()
        return finish(operation)

    req = _Request(ex, tpl.template, variables)

    if request:
        for exc in spec.request_validator.iter_errors(req):
            for kind, where, msg in _request_violations(exc, ex):
                add("request", kind, where, msg, operation)
        problem = _auth_problem(ex.request_headers)
        if problem:
            add("request", "security", "Authorization", problem, operation)
        if method in {"GET", "DELETE"} and _request_body(ex):
            add("request", "body", "", f"{method} request carries a body", operation)
        q_decl, f_decl = spec.declared_params(method, tpl.template)
        for where, pairs, decl, kind in (("query", ex.query, q_decl, "parameter"),
                                         ("form", ex.form, f_decl, "body")):
            seen: dict[str, int] = {}
            for k, _ in pairs:
                seen[k] = seen.get(k, 0) + 1
            for k, n in seen.items():
                if k not in decl:
                    if strict:
                        add("request", "undeclared-param", k,
                            f"{where} parameter not declared (declared: {sorted(decl)})", operation)
                elif n > 1 and not decl[k]:
                    # openapi-core silently keeps one value; a repeated key is only valid for arrays
                    add("request", kind, k, f"{where} parameter repeated {n} times but the spec "
                        "declares a single value, not an array", operation)

    if response:
        declared = spec.operation(method, tpl.template).get("responses", {})
        validator = spec.strict_response_validator if strict else spec.response_validator
        resp = _Response(ex)
        for exc in validator.iter_errors(req, resp):
            for kind, where, msg in _response_violations(exc):
                add("response", kind, where, msg, operation)
        if ex.status >= 400 and str(ex.status) not in declared and "default" not in declared:
            error_body()
        if ex.status == 204 and ex.response_body:
            add("response", "body", "", "204 response must have an empty body", operation)

    return finish(operation)


def validate(ex: Exchange, *, strict: bool = False) -> list[str]:
    """Violations of request and response, as human-readable strings; ``[]`` means conforming."""
    return check(ex, strict=strict).messages()


def validate_request(ex: Exchange, *, strict: bool = False) -> list[str]:
    return check(ex, response=False, strict=strict).messages()


def validate_response(ex: Exchange, *, strict: bool = False) -> list[str]:
    return check(ex, request=False, strict=strict).messages()


def assert_valid(ex: Exchange, *, strict: bool = False) -> None:
    problems = validate(ex, strict=strict)
    if problems:
        raise AssertionError(
            f"{ex.method} {ex.url} -> {ex.status} violates the Twilio contract:\n  "
            + "\n  ".join(problems))


def basic_auth(user: str = "AC" + "0" * 32, secret: str = "test-auth-token") -> dict[str, str]:
    """``{"Authorization": "Basic …"}`` like the twilio SDK sends."""
    token = base64.b64encode(f"{user}:{secret}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}


def form_pairs(data: Mapping[str, Any] | Sequence[tuple[str, Any]]) -> list[tuple[str, str]]:
    """Flatten ``{"AssignmentStatus": ["pending", "reserved"], "X": 1}`` into repeated-key pairs
    the way the twilio SDK serialises them (booleans ``true``/``false``, dicts as JSON strings)."""
    items = data.items() if isinstance(data, Mapping) else data
    out: list[tuple[str, str]] = []
    for k, v in items:
        for item in (v if isinstance(v, (list, tuple)) else [v]):
            if isinstance(item, bool):
                text = "true" if item else "false"
            elif isinstance(item, dict):
                text = json.dumps(item)
            else:
                text = str(item)
            out.append((k, text))
    return out
