"""Typed application settings.

Sources, highest priority first: the environment, `.env` in the current directory, the user
settings file, the project `settings.toml` (the single place defaults live). Twilio credentials
come from the environment/.env only under Twilio's own names (TWILIO_ACCOUNT_SID, ...); every
other key may be set as OUTBOUND_PANEL_<GROUP>__<KEY> (e.g. OUTBOUND_PANEL_FLEX__QUEUE_SID).
"""

import codecs
import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit

import phonenumbers
from dotenv import dotenv_values
from dotenv.parser import parse_stream
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, ValidationError
from pydantic import model_validator
from pydantic_core import ErrorDetails, PydanticCustomError
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings import SettingsError as _SourceError

from core.paths import user_dir
from core.sids import AccountSid, ApiKeySid, FlowSid, QueueSid, WorkerSid, WorkflowSid, WorkspaceSid


def _project_settings_file() -> Path:
    """The repository's top-level settings.toml: there in a checkout or an editable install; an installed
    wheel carries it as core/settings.toml (setup.py copies it in at build time)."""
    package = Path(__file__).resolve().parent
    shipped = package / "settings.toml"
    return shipped if shipped.is_file() else package.parent / "settings.toml"


PROJECT_SETTINGS_FILE = _project_settings_file()
ENV_PREFIX = "OUTBOUND_PANEL_"
USER_SETTINGS_ENV = "OUTBOUND_PANEL_SETTINGS"
# The only names under which credentials are read from the environment and .env.
TWILIO_ENV_NAMES = {
    "account_sid": "TWILIO_ACCOUNT_SID",
    "auth_token": "TWILIO_AUTH_TOKEN",
    "api_key": "TWILIO_API_KEY",
    "api_secret": "TWILIO_API_SECRET",
    "base_url": "TWILIO_BASE_URL",
}
HEARTBEATS = (0.2, 60.0)  # seconds between two relay heartbeats, at least and at most
_SECRET_KEYS = {("twilio", "auth_token"), ("twilio", "api_secret"), ("relay", "nats_password")}


class SettingsError(Exception):
    """Settings could not be loaded; str() is readable text for the user, never a traceback."""


# --- value types -------------------------------------------------------------------------------

_PHONE_CHARS = re.compile(r"\+[0-9 ().-]+")
_PHONE_EXPECTED = "expected a phone number in E.164 form ('+', country code, number), e.g. +15017122661"


def _e164(value: str) -> str:
    # phonenumbers alone is too lenient (it maps letters to keypad digits, drops prefixes)
    if not _PHONE_CHARS.fullmatch(value.strip()):
        raise ValueError(_PHONE_EXPECTED)
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise ValueError(_PHONE_EXPECTED) from None
    if not phonenumbers.is_possible_number(number):
        raise ValueError(_PHONE_EXPECTED + " (this one has the wrong number of digits)")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _strip_whatsapp(value: Any) -> Any:
    return value.removeprefix("whatsapp:") if isinstance(value, str) else value


def _split_list(value: Any) -> Any:
    # env/.env values are one string: accept a JSON list or comma-separated items
    if isinstance(value, str):
        if value.lstrip().startswith("["):
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                raise ValueError('expected a JSON list such as ["+15017122661"] or comma-separated items') from None
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def _base_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError("expected an http(s) base URL such as http://127.0.0.1:8080")
    if parts.username is not None or parts.password is not None:  # it would be logged and shown with the URL
        raise ValueError("a base URL holds no user or password: the credentials are TWILIO_ACCOUNT_SID and "
                         "TWILIO_AUTH_TOKEN (or an API key)")
    try:
        parts.port  # noqa: B018 (raises on a port that is not one)
    except ValueError:
        raise ValueError("expected an http(s) base URL with a port from 1 to 65535") from None
    return value.rstrip("/")


def _empty_is_none(value: Any) -> Any:
    # TOML has no null: "" means not set
    return None if isinstance(value, str) and not value.strip() else value


def nats_urls(value: str) -> str:
    """One NATS server's URL (nats://host:4222, tls://…) or a cluster's, comma-separated; ValueError saying what
    is wrong (never repeating a password)."""
    urls = [url.strip().rstrip("/") for url in value.split(",")]
    for url in urls:
        parts = urlsplit(url)
        if (parts.scheme not in ("nats", "tls") or not parts.hostname or parts.path or parts.query or parts.fragment
                or any(c.isspace() for c in parts.netloc)):
            raise ValueError("expected a NATS server URL such as nats://127.0.0.1:4222 (or tls://…; a cluster's "
                             "comma-separated), or \"\" for none")
        if parts.username is not None or parts.password is not None:  # it would be logged and shown with the URL
            raise ValueError("a NATS URL holds no user or password: set relay.nats_user and "
                             "OUTBOUND_PANEL_RELAY__NATS_PASSWORD")
        try:
            port = parts.port
        except ValueError:
            port = 0
        if port == 0:
            raise ValueError("expected a NATS server URL with a port from 1 to 65535")
    return ",".join(urls)


def _non_empty(value: str) -> str:
    if not value.strip():
        raise ValueError("expected a non-empty worker friendly name, e.g. alice@example.com")
    return value.strip()


def _template_filter(value: str) -> str:
    # a mistyped SID must not pass as the name of a template that does not exist
    if not value.strip() or (re.fullmatch(r"HX[0-9a-fA-F]*", value.strip()) and len(value.strip()) != 34):
        raise ValueError("expected a content template name, or 'HX' followed by 32 hexadecimal characters")
    return value.strip()


def _region(value: str) -> str:
    if value not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError("expected a two-letter country code that phone numbers have (ISO 3166), e.g. US, GB, DE")
    return value


def _seconds_or_off(value: Any) -> Any:
    # TOML has no null: "off" means never
    if isinstance(value, str) and value.strip().casefold() == "off":
        return None
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        try:
            float(value)
            return value  # pydantic converts and range-checks it, reporting the value as given
        except ValueError:
            pass
    raise ValueError('expected a number of seconds (0 or more) or "off"')


E164 = Annotated[str, AfterValidator(_e164)]
WhatsAppNumber = Annotated[str, BeforeValidator(_strip_whatsapp), AfterValidator(_e164)]
BaseUrl = Annotated[str, AfterValidator(_base_url)]


# --- model -------------------------------------------------------------------------------------


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _a_secret(value: SecretStr) -> SecretStr:
    if not value.get_secret_value().strip():
        raise ValueError("expected a secret; this one is only spaces")
    return value


Secret = Annotated[SecretStr, AfterValidator(_a_secret)]


class TwilioSettings(_Group):
    account_sid: AccountSid | None = None
    auth_token: Secret | None = None
    api_key: ApiKeySid | None = None
    api_secret: Secret | None = None
    base_url: BaseUrl | None = None

    @model_validator(mode="after")
    def _check_pairs(self) -> Self:
        # ctx["key"] names the offending key so the error report can point at its source
        if self.api_key is not None and self.api_secret is None:
            raise _pair_error("api_key", "an API key needs its secret too: set TWILIO_API_SECRET (api_secret)")
        if self.api_secret is not None and self.api_key is None:
            raise _pair_error("api_secret", "an API secret needs its key SID too: set TWILIO_API_KEY (api_key)")
        if self.account_sid is None and self.api_key is not None:
            raise _pair_error("api_key", "API key auth needs the account SID too: set TWILIO_ACCOUNT_SID (account_sid)")
        if self.account_sid is None and self.auth_token is not None:
            raise _pair_error("auth_token", "an auth token needs the account SID too: set TWILIO_ACCOUNT_SID (account_sid)")
        if self.base_url is not None and self.account_sid is None:
            raise _pair_error("base_url", "a Twilio base URL needs credentials too: set TWILIO_ACCOUNT_SID and "
                                          "TWILIO_AUTH_TOKEN, or unset it to run the embedded simulator")
        if self.account_sid is not None and self.auth_token is None and self.api_key is None:
            raise _pair_error("account_sid", "an account SID needs its auth token (TWILIO_AUTH_TOKEN) or an API key "
                                             "and secret (TWILIO_API_KEY, TWILIO_API_SECRET); the embedded simulator "
                                             "runs only when no Twilio credential is set at all")
        return self

    @property
    def has_credentials(self) -> bool:
        return self.account_sid is not None and (self.auth_token is not None or self.api_key is not None)

    def credentials(self) -> tuple[str, SecretStr]:
        """(username, password) for the SDK's Basic auth; an API key pair wins over the auth token."""
        if self.api_key is not None and self.api_secret is not None:
            return self.api_key, self.api_secret
        if self.account_sid is not None and self.auth_token is not None:
            return self.account_sid, self.auth_token
        raise ValueError("no Twilio credentials configured")


def _pair_error(key: str, message: str) -> PydanticCustomError:
    return PydanticCustomError("twilio_credentials", message, {"key": key})


class FlexSettings(_Group):
    workspace_sid: WorkspaceSid
    workflow_sid: WorkflowSid
    queue_sid: QueueSid
    inbound_studio_flow_sid: FlowSid
    task_channel: Annotated[str, Field(min_length=1)]


class SendersSettings(_Group):
    sms: Annotated[list[E164], NoDecode, BeforeValidator(_split_list)]
    whatsapp: Annotated[list[WhatsAppNumber], NoDecode, BeforeValidator(_split_list)]

    @model_validator(mode="after")
    def _at_least_one(self) -> Self:
        if not self.sms and not self.whatsapp:
            raise ValueError("expected at least one sender number in senders.sms or senders.whatsapp")
        return self


class AgentSettings(_Group):
    identity: Annotated[str, AfterValidator(_non_empty)]
    worker_sid: WorkerSid | None = None


class CannedSettings(_Group):
    sms: list[Annotated[str, AfterValidator(_non_empty)]]
    whatsapp: list[Annotated[str, AfterValidator(_non_empty)]]


class WhatsAppSettings(_Group):
    template_filters: Annotated[list[Annotated[str, AfterValidator(_template_filter)]], NoDecode,
                                BeforeValidator(_split_list)]


class UiSettings(_Group):
    default_mode: Literal["open_chat", "wait_me", "wait_any"]
    keep_draft_after_send: bool
    auto_accept_own_chats: bool
    cursor_blink: bool
    phone_region: Annotated[str, AfterValidator(_region)]
    keys: dict[str, str]  # binding id -> key(s), e.g. {"send" = "ctrl+s"}


class SimSettings(_Group):
    customer_reply_delay: Annotated[float, Field(ge=0)]
    delivery_delay: Annotated[float, Field(ge=0)]
    colleague_accept_delay: Annotated[Annotated[float, Field(ge=0)] | None, BeforeValidator(_seconds_or_off)]
    inbound_every: Annotated[Annotated[float, Field(gt=0)] | None, BeforeValidator(_seconds_or_off)]
    port: Annotated[int, Field(ge=0, le=65535)]


class RelaySettings(_Group):
    nats_url: Annotated[Annotated[str, AfterValidator(nats_urls)] | None, BeforeValidator(_empty_is_none)]
    nats_user: Annotated[str | None, BeforeValidator(_empty_is_none)]
    nats_password: Secret | None = None
    heartbeat: Annotated[float, Field(ge=HEARTBEATS[0], le=HEARTBEATS[1])]

    @model_validator(mode="after")
    def _user_has_password(self) -> Self:
        if self.nats_user is not None and self.nats_password is None:
            raise PydanticCustomError("relay_user", "a NATS user needs its password: set "
                                      "OUTBOUND_PANEL_RELAY__NATS_PASSWORD", {"key": "nats_user"})
        return self


class Settings(BaseSettings):
    """All settings. Build with `load_settings()`; no defaults here, they live in settings.toml."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", frozen=True
    )

    twilio: TwilioSettings = TwilioSettings()
    flex: FlexSettings
    senders: SendersSettings
    agent: AgentSettings
    canned: CannedSettings
    whatsapp: WhatsAppSettings
    ui: UiSettings
    sim: SimSettings
    relay: RelaySettings

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Only explicit values: reading env and files is load_settings()'s job, with readable errors.
        return (init_settings,)


# --- sources -----------------------------------------------------------------------------------


class _PrefixedEnv(EnvSettingsSource):
    """OUTBOUND_PANEL_<GROUP>__<KEY> variables from a given mapping instead of os.environ."""

    def __init__(self, variables: Mapping[str, str | None]) -> None:
        self._variables = variables
        super().__init__(Settings)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {key.lower(): value for key, value in self._variables.items()}


@dataclass(frozen=True)
class _Source:
    label: str  # e.g. "environment", ".env at /path/.env"
    data: dict[str, Any]  # nested, shaped like Settings
    env_style: bool  # keys are shown as variable names rather than dotted TOML keys

    def key_name(self, loc: tuple[str | int, ...]) -> str:
        index = "".join(f"[{part}]" for part in loc[2:])
        if self.env_style and len(loc) == 1:
            return f"{ENV_PREFIX}{str(loc[0]).upper()}__*"
        if self.env_style and len(loc) >= 2 and loc[0] == "twilio":
            return TWILIO_ENV_NAMES.get(str(loc[1]), str(loc[1])) + index
        if self.env_style:
            return ENV_PREFIX + "__".join(str(part) for part in loc[:2]).upper() + index
        return ".".join(str(part) for part in loc[:2]) + index


def _check_names(label: str, variables: Mapping[str, str | None]) -> None:
    """Every OUTBOUND_PANEL_* variable names a setting (or the settings file): a typo is an error, not ignored."""
    groups = {name: field.annotation for name, field in Settings.model_fields.items() if name != "twilio"}
    for name in variables:
        if not name.upper().startswith(ENV_PREFIX) or name.upper() == USER_SETTINGS_ENV:
            continue
        group, _, key = name[len(ENV_PREFIX):].lower().partition("__")
        model = groups.get(group)
        fields = model.model_fields if isinstance(model, type) and issubclass(model, BaseModel) else {}
        if group == "twilio" or key.partition("__")[0] in fields:
            continue
        guess = next((f"{ENV_PREFIX}{g.upper()}__{k.upper()}" for g, m in groups.items()
                      for k in getattr(m, "model_fields", {}) if f"{g}_{k}" == name[len(ENV_PREFIX):].lower()), None)
        hint = f"; did you mean {guess}?" if guess else (
            f": settings are {ENV_PREFIX}<GROUP>__<KEY> (two underscores), groups {', '.join(groups)}")
        raise SettingsError(f"Unknown setting {name} in {label}{hint}")


def _variables_source(label: str, variables: Mapping[str, str | None]) -> _Source:
    _check_names(label, variables)
    try:
        data = _PrefixedEnv(variables)()
    except _SourceError as exc:
        raise SettingsError(f"Cannot read {ENV_PREFIX}* variables from {label}: {exc}.") from None
    if "twilio" in data:
        names = ", ".join(TWILIO_ENV_NAMES.values())
        raise SettingsError(
            f"{ENV_PREFIX}TWILIO* variables in {label} are not used: "
            f"Twilio settings are read from the environment and .env only as {names}."
        )
    # empty means unset, as for the Twilio SDK's own env fallback
    twilio = {key: variables[name] for key, name in TWILIO_ENV_NAMES.items() if variables.get(name)}
    if twilio:
        data["twilio"] = twilio
    return _Source(label, data, env_style=True)


def _toml_source(label: str, path: Path) -> _Source:
    try:
        # a byte order mark (Windows editors write one) is not TOML's business: read past it
        data = tomllib.loads(path.read_bytes().removeprefix(codecs.BOM_UTF8).decode("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"The {label} is not valid TOML: {exc}.") from None
    except UnicodeDecodeError as exc:
        raise SettingsError(f"The {label} is not UTF-8 text (byte {exc.start}): TOML files are UTF-8; save it "
                            "as UTF-8.") from None
    except OSError as exc:
        raise SettingsError(f"Cannot read the {label}: {exc.strerror or exc}.") from None
    return _Source(label, data, env_style=False)


def user_settings_file(env: Mapping[str, str], cwd: Path) -> Path | None:
    """The user settings file, or None when the default location holds none."""
    if explicit := env.get(USER_SETTINGS_ENV):
        path = cwd / Path(explicit).expanduser()
        if not path.exists():
            raise SettingsError(f"{USER_SETTINGS_ENV} names the settings file {path}, which does not exist.")
        return _a_file(path, f"The settings file {path} ({USER_SETTINGS_ENV})")
    path = user_dir("config", env) / "settings.toml"
    return _a_file(path, f"The settings file {path}") if path.exists() else None


def _a_file(path: Path, what: str) -> Path:
    """`path`, when it is a regular file; a directory or a device (/dev/null) in its place is an error."""
    if path.is_dir():
        raise SettingsError(f"{what} is a directory, not a file.")
    if not path.is_file():
        raise SettingsError(f"{what} is not a regular file.")
    return path


def _sources(env: Mapping[str, str], cwd: Path) -> list[_Source]:
    """All sources, highest priority first."""
    sources = [_variables_source("environment", env)]
    dotenv = cwd / ".env"
    if dotenv.exists():
        _a_file(dotenv, f"The .env at {dotenv}")
        if b"\x00" in dotenv.read_bytes():  # UTF-16 without a byte order mark reads as text with NULs in it
            raise SettingsError(f"The .env at {dotenv} is not UTF-8 text (it holds NUL bytes: UTF-16?); save it as "
                                "UTF-8.")
        try:  # interpolate=False: ${VAR} must not pull in the process environment behind our back
            variables = dotenv_values(dotenv, interpolate=False)
            with dotenv.open(encoding="utf-8") as stream:  # a line dotenv cannot read would be dropped silently
                unread = [b.original.line for b in parse_stream(stream) if b.error]
        except UnicodeDecodeError as exc:
            raise SettingsError(f"The .env at {dotenv} is not UTF-8 text (byte {exc.start}); save it as UTF-8.") from None
        if unread:  # the line is not shown: it may hold a secret
            raise SettingsError(f"The .env at {dotenv} has a line that cannot be read (line {unread[0]}): a quote left "
                                "open, perhaps; write it as NAME=value or NAME=\"value\".")
        sources.append(_variables_source(f".env at {dotenv}", variables))
    if (user_file := user_settings_file(env, cwd)) is not None:
        sources.append(_toml_source(f"user settings file {user_file}", user_file))
    sources.append(_toml_source(f"project settings.toml {PROJECT_SETTINGS_FILE}", PROJECT_SETTINGS_FILE))
    return sources


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


# --- errors ------------------------------------------------------------------------------------


def _supplies(data: Any, loc: tuple[str | int, ...]) -> bool:
    for part in loc:
        if isinstance(part, int) and not isinstance(data, Mapping):
            return True  # lists are replaced whole (or come as one env string): this source supplied the item
        if not isinstance(data, Mapping) or part not in data:
            return False
        data = data[part]
    return True


def _describe(error: ErrorDetails, sources: list[_Source]) -> str:
    loc = tuple(error["loc"])
    ctx = error.get("ctx") or {}
    if "key" in ctx:
        loc += (ctx["key"],)
    source = next((s for s in sources if _supplies(s.data, loc)), None)
    name = source.key_name(loc) if source else ".".join(map(str, loc))
    message = error["msg"].removeprefix("Value error, ").replace("Input should be", "expected", 1)

    if error["type"] == "missing":
        return f"Setting {name} is missing: set it in the user settings file or the environment."
    if error["type"] == "extra_forbidden":
        valid = _valid_keys(loc[:-1])
        group = f"group {loc[0]}" if len(loc) > 1 else "the top level"
        return f"Unknown setting {name} in {source.label if source else 'settings'}; valid keys in {group}: {valid}."
    where = f" in {source.label}" if source else ""
    value = error["input"]
    if "key" in ctx or isinstance(value, Mapping):
        return f"Invalid setting {name}{where}: {message}."  # group-level check: no single value to show
    # mask secrets and anything that may contain one (e.g. `twilio = "..."` at the top level)
    shown = "***" if any(loc[: len(key)] == key[: len(loc)] for key in _SECRET_KEYS) else repr(_no_password(value))
    return f"Invalid setting {name}{where}: got {shown}; {message}."


def _no_password(value: object) -> object:
    """A URL's user and password masked (http://***@host): a value shown in an error may hold a secret."""
    if isinstance(value, str) and "@" in value and "://" in value:
        scheme, _, rest = value.partition("://")
        return f"{scheme}://***@{rest.rpartition('@')[2]}"
    return value


def _valid_keys(loc: tuple[str | int, ...]) -> str:
    model: type[BaseModel] = Settings
    if loc:
        annotation = Settings.model_fields[str(loc[0])].annotation
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else Settings
    return ", ".join(model.model_fields)


# --- entry point -------------------------------------------------------------------------------


def load_settings(env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Settings:
    """Load settings from all sources; raises SettingsError with a readable message."""
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else cwd
    sources = _sources(env, cwd)
    merged: dict[str, Any] = {}
    for source in reversed(sources):
        merged = _merge(merged, source.data)
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        raise SettingsError("\n".join(_describe(error, sources) for error in exc.errors())) from None
