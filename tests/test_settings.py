"""Settings: sources, priority order, and readable errors."""

from collections.abc import Callable
from pathlib import Path

import pytest

from core.settings import PROJECT_SETTINGS_FILE, Settings, SettingsError, load_settings

SECRET = "s3cr3t-Zebra-Quokka-4711"
ACCOUNT = "AC" + "a1" * 16
API_KEY = "SK" + "b2" * 16


@pytest.fixture
def cwd(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    return work


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    # an XDG_CONFIG_HOME in tmp: the real user file can never leak in
    return {"XDG_CONFIG_HOME": str(tmp_path / "config"), "HOME": str(tmp_path / "home")}


def user_file(env: dict[str, str], text: str) -> Path:
    path = Path(env["XDG_CONFIG_HOME"]) / "outbound-panel" / "settings.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def error_text(env: dict[str, str], cwd: Path) -> str:
    with pytest.raises(SettingsError) as info:
        load_settings(env, cwd)
    text = str(info.value)
    assert "Traceback" not in text
    return text


# --- defaults and priority ---------------------------------------------------------------------


def test_defaults_come_from_project_settings_toml(env: dict[str, str], cwd: Path) -> None:
    settings = load_settings(env, cwd)
    assert settings.flex.workspace_sid == "WS00000000000000000000000000000001"
    assert settings.flex.workflow_sid == "WW00000000000000000000000000000001"
    assert settings.flex.queue_sid == "WQ00000000000000000000000000000001"
    assert settings.flex.inbound_studio_flow_sid == "FW00000000000000000000000000000001"
    assert settings.flex.task_channel == "chat"
    assert settings.senders.sms == ["+15017122661", "+15017122662"]
    assert settings.senders.whatsapp == ["+14155238886"]
    assert settings.agent.identity == "alice@example.com"
    assert settings.agent.worker_sid is None
    assert (settings.sim.customer_reply_delay, settings.sim.delivery_delay, settings.sim.port) == (3.0, 0.5, 0)
    assert settings.sim.colleague_accept_delay == 4.0
    assert settings.twilio.account_sid is None
    assert not settings.twilio.has_credentials


def test_every_project_key_has_a_comment() -> None:
    for line in PROJECT_SETTINGS_FILE.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            assert "#" in line, f"settings.toml key without a comment: {line}"


def test_settings_model_reads_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTBOUND_PANEL_AGENT__IDENTITY", "bob")
    with pytest.raises(ValueError):
        Settings()  # only load_settings() reads sources


@pytest.mark.parametrize(
    ("env_name", "toml", "values", "read"),
    [
        (
            "OUTBOUND_PANEL_FLEX__QUEUE_SID",
            '[flex]\nqueue_sid = "{}"\n',
            ["WQ" + "e" * 32, "WQ" + "d" * 32, "WQ" + "c" * 32],
            lambda s: s.flex.queue_sid,
        ),
        (
            "OUTBOUND_PANEL_AGENT__IDENTITY",
            '[agent]\nidentity = "{}"\n',
            ["env@example.com", "dotenv@example.com", "user@example.com"],
            lambda s: s.agent.identity,
        ),
        (
            "OUTBOUND_PANEL_SIM__CUSTOMER_REPLY_DELAY",
            "[sim]\ncustomer_reply_delay = {}\n",
            ["0.25", "1.5", "7.5"],
            lambda s: str(s.sim.customer_reply_delay),
        ),
        (
            "OUTBOUND_PANEL_SENDERS__SMS",
            '[senders]\nsms = ["{}"]\n',
            ["+447700900001", "+447700900002", "+447700900003"],
            lambda s: s.senders.sms[0],
        ),
        (
            "TWILIO_BASE_URL",
            '[twilio]\nbase_url = "{}"\n',
            ["http://127.0.0.1:1001", "http://127.0.0.1:1002", "http://127.0.0.1:1003"],
            lambda s: s.twilio.base_url,
        ),
    ],
)
def test_priority_env_then_dotenv_then_user_file_then_project(
    env: dict[str, str], cwd: Path, env_name: str, toml: str, values: list[str], read: Callable[[Settings], object]
) -> None:
    env_value, dotenv_value, user_value = values
    if env_name == "TWILIO_BASE_URL":  # a base URL goes with credentials
        env = {**env, "TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_AUTH_TOKEN": SECRET}
    default = read(load_settings(env, cwd))
    assert default not in values

    user_file(env, toml.format(user_value))
    assert read(load_settings(env, cwd)) == user_value

    (cwd / ".env").write_text(f"{env_name}={dotenv_value}\n")
    assert read(load_settings(env, cwd)) == dotenv_value

    assert read(load_settings({**env, env_name: env_value}, cwd)) == env_value


def test_user_file_from_outbound_panel_settings(env: dict[str, str], cwd: Path, tmp_path: Path) -> None:
    path = tmp_path / "elsewhere.toml"
    path.write_text('[agent]\nidentity = "carol@example.com"\n')
    user_file(env, '[agent]\nidentity = "ignored@example.com"\n')
    settings = load_settings({**env, "OUTBOUND_PANEL_SETTINGS": str(path)}, cwd)
    assert settings.agent.identity == "carol@example.com"


def test_twilio_credentials_from_twilio_names(env: dict[str, str], cwd: Path) -> None:
    settings = load_settings({**env, "TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_AUTH_TOKEN": SECRET}, cwd)
    assert settings.twilio.has_credentials
    username, password = settings.twilio.credentials()
    assert (username, password.get_secret_value()) == (ACCOUNT, SECRET)
    assert SECRET not in repr(settings) and SECRET not in str(settings)


def test_api_key_pair_from_dotenv_wins_over_auth_token(env: dict[str, str], cwd: Path) -> None:
    (cwd / ".env").write_text(f"TWILIO_ACCOUNT_SID={ACCOUNT}\nTWILIO_API_KEY={API_KEY}\nTWILIO_API_SECRET={SECRET}\n")
    settings = load_settings({**env, "TWILIO_AUTH_TOKEN": "other-token"}, cwd)
    username, password = settings.twilio.credentials()
    assert (username, password.get_secret_value()) == (API_KEY, SECRET)
    assert SECRET not in repr(settings)


def test_twilio_credentials_from_user_file(env: dict[str, str], cwd: Path) -> None:
    user_file(env, f'[twilio]\naccount_sid = "{ACCOUNT}"\nauth_token = "{SECRET}"\n')
    assert load_settings(env, cwd).twilio.has_credentials


def test_prefixed_twilio_variables_are_refused(env: dict[str, str], cwd: Path) -> None:
    text = error_text({**env, "OUTBOUND_PANEL_TWILIO__AUTH_TOKEN": SECRET}, cwd)
    assert "TWILIO_AUTH_TOKEN" in text and "environment" in text
    assert SECRET not in text


def test_sender_list_forms_and_whatsapp_prefix(env: dict[str, str], cwd: Path) -> None:
    settings = load_settings(
        {
            **env,
            "OUTBOUND_PANEL_SENDERS__SMS": "+1 501-712-2661, +15017122662",
            "OUTBOUND_PANEL_SENDERS__WHATSAPP": '["whatsapp:+14155238886"]',
        },
        cwd,
    )
    assert settings.senders.sms == ["+15017122661", "+15017122662"]
    assert settings.senders.whatsapp == ["+14155238886"]


def test_whatsapp_prefix_stripped_in_toml(env: dict[str, str], cwd: Path) -> None:
    user_file(env, '[senders]\nwhatsapp = ["whatsapp:+447700900123"]\n')
    assert load_settings(env, cwd).senders.whatsapp == ["+447700900123"]


# --- readable errors ---------------------------------------------------------------------------


def test_bad_sid_prefix_names_key_source_value_and_expectation(env: dict[str, str], cwd: Path) -> None:
    path = user_file(env, '[flex]\nworkspace_sid = "WX00000000000000000000000000000001"\n')
    text = error_text(env, cwd)
    assert "flex.workspace_sid" in text
    assert f"user settings file {path}" in text
    assert "'WX00000000000000000000000000000001'" in text
    assert "expected 'WS' followed by 32 hexadecimal characters" in text
    assert "\n" not in text  # one error, one paragraph


def test_bad_sid_length_from_environment(env: dict[str, str], cwd: Path) -> None:
    text = error_text({**env, "OUTBOUND_PANEL_FLEX__QUEUE_SID": "WQ123"}, cwd)
    assert "OUTBOUND_PANEL_FLEX__QUEUE_SID" in text
    assert "environment" in text and "'WQ123'" in text
    assert "32 hexadecimal characters" in text


def test_bad_account_sid_from_dotenv_names_twilio_variable(env: dict[str, str], cwd: Path) -> None:
    (cwd / ".env").write_text(f"TWILIO_ACCOUNT_SID=AB{'0' * 32}\nTWILIO_AUTH_TOKEN={SECRET}\n")
    text = error_text(env, cwd)
    assert "TWILIO_ACCOUNT_SID" in text
    assert f".env at {cwd / '.env'}" in text
    assert "expected 'AC'" in text
    assert SECRET not in text


def test_bad_phone_number(env: dict[str, str], cwd: Path) -> None:
    path = user_file(env, '[senders]\nsms = ["+15017122661", "+1501712266"]\n')
    text = error_text(env, cwd)
    assert "senders.sms[1]" in text
    assert str(path) in text and "'+1501712266'" in text
    assert "E.164" in text


def test_letters_in_phone_number_rejected(env: dict[str, str], cwd: Path) -> None:
    text = error_text({**env, "OUTBOUND_PANEL_SENDERS__SMS": "+1501712CALL"}, cwd)
    assert "OUTBOUND_PANEL_SENDERS__SMS" in text and "E.164" in text


def test_no_sender_at_all(env: dict[str, str], cwd: Path) -> None:
    user_file(env, "[senders]\nsms = []\nwhatsapp = []\n")
    assert "at least one sender" in error_text(env, cwd)


def test_empty_agent_identity(env: dict[str, str], cwd: Path) -> None:
    text = error_text({**env, "OUTBOUND_PANEL_AGENT__IDENTITY": "  "}, cwd)
    assert "OUTBOUND_PANEL_AGENT__IDENTITY" in text and "environment" in text
    assert "non-empty" in text


def test_auth_token_without_account_sid(env: dict[str, str], cwd: Path) -> None:
    text = error_text({**env, "TWILIO_AUTH_TOKEN": SECRET}, cwd)
    assert "TWILIO_AUTH_TOKEN" in text and "environment" in text
    assert "TWILIO_ACCOUNT_SID" in text  # what is expected
    assert SECRET not in text


def test_api_key_without_secret(env: dict[str, str], cwd: Path) -> None:
    path = user_file(env, f'[twilio]\naccount_sid = "{ACCOUNT}"\napi_key = "{API_KEY}"\n')
    text = error_text(env, cwd)
    assert "twilio.api_key" in text and str(path) in text
    assert "secret" in text


def test_api_secret_without_key_hides_secret(env: dict[str, str], cwd: Path) -> None:
    text = error_text({**env, "TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_API_SECRET": SECRET}, cwd)
    assert "TWILIO_API_SECRET" in text and "TWILIO_API_KEY" in text
    assert SECRET not in text


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        (f'[twilio]\naccount_sid = "{ACCOUNT}"\nauth_token = ["{SECRET}"]\n', "twilio.auth_token"),
        (f'[twilio]\naccount_sid = "{ACCOUNT}"\napi_key = "{API_KEY}"\napi_secret = 7\n', "twilio.api_secret"),
        (f'twilio = "{SECRET}"\n', "twilio"),
    ],
)
def test_invalid_secret_value_is_masked(env: dict[str, str], cwd: Path, toml: str, key: str) -> None:
    user_file(env, toml)
    text = error_text(env, cwd)
    assert f"Invalid setting {key} in user settings file" in text and "got ***" in text
    assert SECRET not in text and "7" not in text.replace(str(cwd.parent), "")


def test_malformed_toml_names_file_and_line(env: dict[str, str], cwd: Path) -> None:
    path = user_file(env, '[flex]\nqueue_sid = "WQ"\n[agent\nidentity = "x"\n')
    text = error_text(env, cwd)
    assert str(path) in text and "not valid TOML" in text
    assert "line 3" in text


def test_unknown_key_lists_valid_keys(env: dict[str, str], cwd: Path) -> None:
    path = user_file(env, '[flex]\nqueue_sidd = "WQ00000000000000000000000000000001"\n')
    text = error_text(env, cwd)
    assert "Unknown setting flex.queue_sidd" in text and str(path) in text
    for key in ("workspace_sid", "workflow_sid", "queue_sid", "inbound_studio_flow_sid", "task_channel"):
        assert key in text


def test_unknown_group(env: dict[str, str], cwd: Path) -> None:
    user_file(env, '[flx]\nqueue_sid = "x"\n')
    text = error_text(env, cwd)
    assert "Unknown setting flx" in text and "senders" in text


def test_missing_explicit_user_settings_file(env: dict[str, str], cwd: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "settings.toml"
    text = error_text({**env, "OUTBOUND_PANEL_SETTINGS": str(missing)}, cwd)
    assert "OUTBOUND_PANEL_SETTINGS" in text and str(missing) in text and "does not exist" in text


def test_several_errors_one_line_each(env: dict[str, str], cwd: Path) -> None:
    bad = {**env, "OUTBOUND_PANEL_SIM__PORT": "99999", "OUTBOUND_PANEL_FLEX__WORKFLOW_SID": "WS" + "0" * 32}
    lines = error_text(bad, cwd).splitlines()
    assert len(lines) == 2
    assert any("OUTBOUND_PANEL_SIM__PORT" in line and "'99999'" in line for line in lines)
    assert any("OUTBOUND_PANEL_FLEX__WORKFLOW_SID" in line and "expected 'WW'" in line for line in lines)


# --- SID types ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("WS0123456789abcdef0123456789ABCDEF", True),
        ("WS" + "0" * 31, False),
        ("WS" + "0" * 33, False),
        ("WS" + "0" * 31 + "g", False),
        ("WS" + "0" * 32 + "\n", False),
        ("ws" + "0" * 32, False),
        ("WK" + "0" * 32, False),
    ],
)
def test_sid_type(value: str, ok: bool) -> None:
    from pydantic import TypeAdapter, ValidationError

    from core.sids import sid_type

    adapter = TypeAdapter(sid_type("WS"))
    if ok:
        assert adapter.validate_python(value) == value
    else:
        with pytest.raises(ValidationError, match="expected 'WS' followed by 32 hexadecimal characters, e.g. WS0123"):
            adapter.validate_python(value)


# --- simulated colleagues ----------------------------------------------------------------------


@pytest.mark.parametrize(("given", "read"), [("2.5", 2.5), ("0", 0.0), ("off", None), (" OFF ", None)])
def test_colleague_accept_delay_is_seconds_or_off_from_the_environment(
    env: dict[str, str], cwd: Path, given: str, read: float | None
) -> None:
    settings = load_settings({**env, "OUTBOUND_PANEL_SIM__COLLEAGUE_ACCEPT_DELAY": given}, cwd)
    assert settings.sim.colleague_accept_delay == read


@pytest.mark.parametrize(("toml", "read"), [('"off"', None), ("7", 7.0), ("0.5", 0.5)])
def test_colleague_accept_delay_in_a_settings_file(
    env: dict[str, str], cwd: Path, toml: str, read: float | None
) -> None:
    user_file(env, f"[sim]\ncolleague_accept_delay = {toml}\n")
    assert load_settings(env, cwd).sim.colleague_accept_delay == read


@pytest.mark.parametrize(
    ("toml", "expected"),
    [("-1", "greater than or equal to 0"), ('"soon"', '"off"'), ("false", '"off"'), ("true", '"off"')],
)
def test_a_bad_colleague_accept_delay_is_named(env: dict[str, str], cwd: Path, toml: str, expected: str) -> None:
    user_file(env, f"[sim]\ncolleague_accept_delay = {toml}\n")
    text = error_text(env, cwd)
    assert "sim.colleague_accept_delay" in text and expected in text
    assert text.count("\n") == 0  # one error, not one per member of the float-or-off union


# --- what the hostile tester tried (issue 13, 7 and 9) ---------------------------------------------


@pytest.mark.parametrize("extra", [{}, {"TWILIO_AUTH_TOKEN": ""}, {"TWILIO_API_KEY": ""}])
def test_an_account_sid_alone_does_not_start_the_simulator(env: dict[str, str], cwd: Path,
                                                           extra: dict[str, str]) -> None:
    text = error_text({**env, "TWILIO_ACCOUNT_SID": ACCOUNT, **extra}, cwd)
    assert text.startswith("Invalid setting TWILIO_ACCOUNT_SID in environment:")
    assert "TWILIO_AUTH_TOKEN" in text and "runs only when no Twilio credential is set at all" in text


@pytest.mark.parametrize(("name", "said"), [
    ("OUTBOUND_PANEL_FOO__BAR", "Unknown setting OUTBOUND_PANEL_FOO__BAR in environment: settings are "
                                "OUTBOUND_PANEL_<GROUP>__<KEY> (two underscores), groups flex, senders"),
    ("OUTBOUND_PANEL_UI_CURSOR_BLINK", "Unknown setting OUTBOUND_PANEL_UI_CURSOR_BLINK in environment; did you mean "
                                       "OUTBOUND_PANEL_UI__CURSOR_BLINK?"),
    ("OUTBOUND_PANEL_UI__CURSOR_BLINKS", "Unknown setting OUTBOUND_PANEL_UI__CURSOR_BLINKS in environment"),
    ("outbound_panel_ui__nope", "Unknown setting outbound_panel_ui__nope in environment"),
])
def test_a_mistyped_variable_is_an_error_like_a_mistyped_key(env: dict[str, str], cwd: Path, name: str,
                                                             said: str) -> None:
    assert error_text({**env, name: "true"}, cwd).startswith(said)


def test_a_variable_with_keys_inside_a_group_is_a_setting(env: dict[str, str], cwd: Path) -> None:
    assert load_settings({**env, "OUTBOUND_PANEL_UI__KEYS__SEND": "ctrl+g"}, cwd).ui.keys == {"send": "ctrl+g"}


@pytest.mark.parametrize("region", ["ZZ", "XK1", "us"])
def test_a_phone_region_without_phone_numbers_is_refused(env: dict[str, str], cwd: Path, region: str) -> None:
    text = error_text({**env, "OUTBOUND_PANEL_UI__PHONE_REGION": region}, cwd)
    assert "OUTBOUND_PANEL_UI__PHONE_REGION" in text and "country code that phone numbers have" in text


def test_a_utf16_settings_file_is_said_not_thrown(env: dict[str, str], cwd: Path) -> None:
    path = user_file(env, "")
    path.write_bytes('[ui]\ncursor_blink = true\n'.encode("utf-16"))
    assert error_text(env, cwd) == f"The user settings file {path} is not UTF-8 text (byte 0): TOML files are " \
                                   "UTF-8; save it as UTF-8."


def test_a_non_utf8_dotenv_is_said_not_thrown(env: dict[str, str], cwd: Path) -> None:
    (cwd / ".env").write_bytes(b"OUTBOUND_PANEL_AGENT__IDENTITY=J\xf6rg\n")
    assert error_text(env, cwd).startswith(f"The .env at {cwd / '.env'} is not UTF-8 text")


@pytest.mark.parametrize(("target", "said"), [("dir", "is a directory, not a file."),
                                              ("/dev/null", "is not a regular file.")])
def test_a_settings_file_that_is_not_a_file_is_named_as_such(env: dict[str, str], cwd: Path, tmp_path: Path,
                                                            target: str, said: str) -> None:
    path = tmp_path / "dir" if target == "dir" else Path(target)
    path.mkdir(exist_ok=True) if target == "dir" else None
    assert error_text({**env, "OUTBOUND_PANEL_SETTINGS": str(path)}, cwd) == \
        f"The settings file {path} (OUTBOUND_PANEL_SETTINGS) {said}"


@pytest.mark.parametrize("secret", [" ", "\t", "   "])
def test_a_secret_of_only_spaces_is_refused_and_never_shown(env: dict[str, str], cwd: Path, secret: str) -> None:
    text = error_text({**env, "TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_AUTH_TOKEN": secret}, cwd)
    assert text == "Invalid setting TWILIO_AUTH_TOKEN in environment: got ***; expected a secret; this one is only " \
                   "spaces."


def test_a_base_url_without_credentials_does_not_run_the_simulator(env: dict[str, str], cwd: Path) -> None:
    text = error_text({**env, "TWILIO_BASE_URL": "http://127.0.0.1:8411"}, cwd)
    assert text.startswith("Invalid setting TWILIO_BASE_URL in environment: a Twilio base URL needs credentials")


def test_a_dotenv_line_that_cannot_be_read_is_said_without_showing_it(env: dict[str, str], cwd: Path) -> None:
    (cwd / ".env").write_text(f'OUTBOUND_PANEL_UI__PHONE_REGION="GB\nTWILIO_AUTH_TOKEN="{SECRET}\n')
    text = error_text(env, cwd)
    assert text.startswith(f"The .env at {cwd / '.env'} has a line that cannot be read (line 1)")
    assert SECRET not in text


def test_a_settings_file_with_a_byte_order_mark_is_read(env: dict[str, str], cwd: Path) -> None:
    path = user_file(env, "")
    path.write_bytes(b"\xef\xbb\xbf[ui]\nphone_region = \"GB\"\n")
    assert load_settings(env, cwd).ui.phone_region == "GB"


def test_a_utf16_dotenv_without_a_byte_order_mark_is_said_not_ignored(env: dict[str, str], cwd: Path) -> None:
    (cwd / ".env").write_bytes(f"TWILIO_ACCOUNT_SID={ACCOUNT}\n".encode("utf-16-le"))
    assert error_text(env, cwd).startswith(f"The .env at {cwd / '.env'} is not UTF-8 text (it holds NUL bytes")


@pytest.mark.parametrize(("url", "said"), [
    ("http://user:s3cr3t-in-url@127.0.0.1:8411", "a base URL holds no user or password"),
    ("http://127.0.0.1:99999", "a port from 1 to 65535"),
])
def test_a_base_url_with_a_password_or_a_bad_port_is_refused_without_showing_it(
        env: dict[str, str], cwd: Path, url: str, said: str) -> None:
    text = error_text({**env, "TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_AUTH_TOKEN": SECRET, "TWILIO_BASE_URL": url}, cwd)
    assert text.startswith("Invalid setting TWILIO_BASE_URL in environment") and said in text
    assert "s3cr3t-in-url" not in text
