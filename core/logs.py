"""The app's log and its secrets: a private rotating file in the user state dir, every secret redacted.

    path = setup_logging(settings)       # in main, before the app or the simulator runs
    warning = exposed_secret_warning()   # a sentence when others can read the secret in the settings file

Nothing is ever logged to the terminal: the TUI draws on it. Our own loggers (`outbound_panel.*`) log at
INFO; the twilio SDK (request URLs and headers at INFO) and aiohttp at WARNING.
"""

from __future__ import annotations

import base64
import io
import logging
import os
import re
import stat
import tomllib
from collections.abc import Iterable, Mapping
from logging.handlers import RotatingFileHandler
from pathlib import Path
from urllib.parse import quote, quote_plus

from core.paths import user_dir
from core.settings import Settings, SettingsError, user_settings_file

LOG_BYTES = 2_000_000  # per file; with LOG_BACKUPS old files at most ~8 MB in all
LOG_BACKUPS = 3
REDACTED = "***"
LEVELS = {"outbound_panel": logging.INFO, "twilio": logging.WARNING, "aiohttp": logging.WARNING}
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
SECRET_KEYS = ("auth_token", "api_secret")  # the [twilio] keys of the settings file that hold a secret

# an HTTP Basic Authorization value wherever printed (headers dict, repr); base64 of sid:secret has 48+ chars
_BASIC_AUTH = re.compile(r"(Basic\s+)[A-Za-z0-9+/=_-]{16,}", re.IGNORECASE)


def default_path(env: Mapping[str, str] = os.environ) -> Path:
    """$XDG_STATE_HOME/outbound-panel/outbound-panel.log, else ~/.local/state/outbound-panel/outbound-panel.log."""
    return user_dir("state", env) / "outbound-panel.log"


def secrets_of(settings: Settings) -> list[str]:
    """The configured secrets, and the Basic auth credential the SDK builds from them."""
    twilio = settings.twilio
    secrets = [value.get_secret_value() for value in (twilio.auth_token, twilio.api_secret) if value is not None]
    if twilio.has_credentials:
        username, password = twilio.credentials()
        secrets.append(base64.b64encode(f"{username}:{password.get_secret_value()}".encode()).decode("ascii"))
    return secrets


class RedactSecrets(logging.Filter):
    """Replaces every given secret, and any HTTP Basic credential, with *** in a record's message, its args
    and its traceback; the record is kept."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        forms = {form for secret in secrets if secret for form in (secret, quote(secret, safe=""), quote_plus(secret))}
        # longest first: a secret that contains another is replaced whole
        self._pattern = re.compile("|".join(map(re.escape, sorted(forms, key=len, reverse=True)))) if forms else None

    def redact(self, text: str) -> str:
        text = _BASIC_AUTH.sub(lambda match: match.group(1) + REDACTED, text)
        return self._pattern.sub(REDACTED, text) if self._pattern else text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()  # merges the args in: the redacted text replaces both
        except (TypeError, ValueError):
            message = f"{record.msg} {record.args!r}"  # a malformed call is still logged, redacted
        record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


class PrivateRotatingFileHandler(RotatingFileHandler):
    """A RotatingFileHandler whose files are created (and kept) readable by their owner only."""

    def _open(self) -> io.TextIOWrapper:
        descriptor = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.fchmod(descriptor, 0o600)  # a file left by an older version may be wider
        return open(descriptor, "a", encoding=self.encoding, errors=self.errors)


def setup_logging(settings: Settings, env: Mapping[str, str] = os.environ) -> Path:
    """Sends every log record to the private log file with the settings' secrets redacted, and nothing to the
    terminal; returns the file's path. Raises OSError when it cannot be written: logging is then off, and still
    never on the terminal."""
    root = logging.getLogger()
    for handler in list(root.handlers):  # a second call (tests) replaces the first
        if isinstance(handler, (PrivateRotatingFileHandler, logging.NullHandler)):
            root.removeHandler(handler)
            handler.close()
    # first of all: with a handler in place, logging's last resort never writes WARNINGs to stderr
    root.addHandler(logging.NullHandler())
    root.setLevel(logging.WARNING)
    for name, level in LEVELS.items():
        logging.getLogger(name).setLevel(level)
    logging.captureWarnings(True)  # Python warnings go to the log, not over the screen
    logging.raiseExceptions = False  # a failing handler must not print its traceback over the screen

    path = default_path(env)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)  # mkdir's mode is reduced by the umask and ignored for an existing dir
    handler = PrivateRotatingFileHandler(path, maxBytes=LOG_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8")
    handler.addFilter(RedactSecrets(secrets_of(settings)))
    handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(handler)
    return path


def exposed_secret_warning(env: Mapping[str, str] = os.environ, cwd: Path | None = None) -> str | None:
    """A sentence when the user settings file holds a Twilio secret that group or others may read, else None."""
    try:
        path = user_settings_file(env, Path.cwd() if cwd is None else cwd)
        if path is None or not path.stat().st_mode & (stat.S_IRGRP | stat.S_IROTH):
            return None
        with path.open("rb") as file:
            twilio = tomllib.load(file).get("twilio")
    except (SettingsError, OSError, tomllib.TOMLDecodeError):
        return None  # load_settings says what is wrong with the file
    if isinstance(twilio, Mapping) and any(twilio.get(key) for key in SECRET_KEYS):
        return f"Your settings file holds a Twilio secret and other users can read it: run chmod 600 {path}"
    return None
