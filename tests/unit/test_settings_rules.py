"""Values that cannot work are refused at load, each named as its AUTH_* variable: cookie
names browsers would drop or that break the Set-Cookie header, URLs of the wrong scheme,
a data key that is no key, a password policy nobody can meet, a misspelled key, a
configuration file that is missing or not TOML."""
from __future__ import annotations

import base64
import os

import pytest
from pydantic import BaseModel, ValidationError

from app.settings import (
    ConfigFileError,
    CookieSettings,
    Settings,
    TokenSettings,
    describe_errors,
    describe_load_error,
)

INSECURE = {"name": "sid", "secure": False}


def refused(**sections) -> list[str]:
    """The lines an operator would see for these settings (which must be refused)."""
    with pytest.raises(ValidationError) as caught:
        Settings(**sections)
    return describe_errors(caught.value)


def one_line(**sections) -> str:
    lines = refused(**sections)
    assert len(lines) == 1, lines
    return lines[0]


# --- cookie names -------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["my session", "sid;Domain=evil.example", "a=b", "a,b", '"sid"', "", "sid\t",
                                  "s\u00efd"])
def test_a_session_cookie_name_that_is_not_a_token_is_refused(name):
    # aiohttp refuses to write such a cookie: every login answered 500 (or the name smuggled attributes).
    assert one_line(cookie={"name": name, "secure": False}).startswith("AUTH_COOKIE__NAME: ")


@pytest.mark.parametrize("name", ["sid", "__Host-id", "my-session_2", "a.b!#$%&'*+^`|~"])
def test_cookie_names_that_are_tokens_are_accepted(name):
    assert Settings(cookie={"name": name}).cookie.name == name


@pytest.mark.parametrize("name", ["__Secure-id", "__Host-id", "__secure-id", "__HOST-id"])
def test_a_prefixed_session_cookie_must_be_secure(name):
    with pytest.raises(ValueError, match="must be Secure"):
        CookieSettings(name=name, secure=False)
    assert CookieSettings(name=name, secure=True).name == name


@pytest.mark.parametrize("names", [{}, {"access_cookie": "at"}, {"refresh_cookie": "rt"}])
def test_prefixed_token_cookies_without_secure_are_refused(names):
    # The defaults are __Host-at and __Secure-rt: with cookie_secure=false browsers drop both.
    line = one_line(tokens={"cookie_transport": True, "cookie_secure": False, **names})
    assert line.startswith("AUTH_TOKENS__*: ") and "must be Secure" in line
    with pytest.raises(ValueError):
        TokenSettings(cookie_transport=True, cookie_secure=False, **names)


def test_token_cookie_prefixes_matter_only_with_the_cookie_transport():
    assert not Settings(tokens={"cookie_transport": False, "cookie_secure": False}).tokens.cookie_transport
    plain = Settings(cookie=INSECURE, tokens={"cookie_transport": True, "cookie_secure": False,
                                              "access_cookie": "at", "refresh_cookie": "rt"})
    assert plain.tokens.access_cookie == "at"


def test_a_host_prefixed_refresh_cookie_is_refused_its_path_is_not_slash():
    line = one_line(tokens={"cookie_transport": True, "refresh_cookie": "__Host-rt"})
    assert "Path=/" in line and "__Secure-" in line


@pytest.mark.parametrize("field", ["access_cookie", "refresh_cookie"])
def test_token_cookie_names_must_be_tokens(field):
    assert one_line(tokens={field: "a b"}).startswith(f"AUTH_TOKENS__{field.upper()}: ")


def test_token_cookies_must_not_share_a_name_with_each_other_or_the_session_cookie():
    assert "must differ" in one_line(cookie=INSECURE, tokens={
        "cookie_transport": True, "cookie_secure": False, "access_cookie": "t", "refresh_cookie": "t"})
    assert "cookie.name" in one_line(cookie=INSECURE, tokens={
        "cookie_transport": True, "cookie_secure": False, "access_cookie": "sid", "refresh_cookie": "rt"})


def test_a_host_prefixed_device_cookie_on_an_insecure_session_cookie_is_refused():
    # The device cookie is Secure exactly when the session cookie is (app.http.device_cookie).
    line = one_line(cookie=INSECURE, throttle={"device_cookie": "__Host-dev"})
    assert line.startswith("AUTH_THROTTLE__*: ") and "throttle.device_cookie" in line
    assert Settings(throttle={"device_cookie": "__Host-dev"}).throttle.device_cookie == "__Host-dev"


def test_the_device_cookie_default_follows_the_session_cookie():
    # Derived: "<session cookie>-device", whose prefix the session cookie's own rule covers.
    assert Settings(cookie=INSECURE).cookie.name == "sid"
    assert Settings().cookie.name == "__Host-id"


@pytest.mark.parametrize("name", ["dev ice", "sid"])
def test_a_device_cookie_that_is_no_token_or_another_cookie_is_refused(name):
    assert one_line(cookie=INSECURE, throttle={"device_cookie": name}).startswith("AUTH_THROTTLE__*: ")


# --- the password policy ------------------------------------------------------------------

def test_a_minimum_password_length_above_the_maximum_is_refused():
    line = one_line(password={"min_length": 300})
    assert line.startswith("AUTH_PASSWORD__*: ") and "min_length must not exceed password.max_length" in line
    assert Settings(password={"min_length": 256}).password.min_length == 256


# --- the data key -------------------------------------------------------------------------

def _key(raw: bytes | None = None, encode=base64.urlsafe_b64encode) -> str:
    return encode(raw if raw is not None else os.urandom(32)).decode()


@pytest.mark.parametrize("value", ["not base64 at all!", "abcd", _key(os.urandom(16)), f"{_key()},x y z"])
def test_a_data_key_that_is_no_key_is_refused_without_quoting_it(value):
    line = one_line(security={"data_key": value})
    assert line.startswith("AUTH_SECURITY__DATA_KEY: ")
    assert not any(part and part in line for part in value.split(",")), "a secret in the message"


@pytest.mark.parametrize("value", ["", _key(), _key().rstrip("="), f"{_key()}, {_key()}",
                                   _key(b"\xfb" * 32, base64.b64encode)])  # standard alphabet too
def test_data_keys_that_secretbox_opens_are_accepted(value):
    from app.mfa.secretbox import SecretBox

    assert Settings(security={"data_key": value}).security.data_key == value
    SecretBox(value)  # the runtime agrees


# --- URLs ---------------------------------------------------------------------------------

@pytest.mark.parametrize("section, url", [
    ("redis", "http://127.0.0.1:6379/0"),
    ("redis", "redis://127.0.0.1:abc/0"),
    ("redis", "127.0.0.1:6379"),
    ("broker", "foo://127.0.0.1:1/"),
    ("broker", "amqp://guest:guest@127.0.0.1:99999//"),
    ("broker", "not a url"),
    ("database", "postgres//oops"),
    ("database", "postgresql://postgres@127.0.0.1:5432/auth"),    # no async driver
    ("database", "postgresql+asyncpg://postgres@127.0.0.1:5432/"),  # no database
    ("database", "postgresql+asyncpg://postgres@127.0.0.1:port/auth"),
])
def test_a_url_that_cannot_work_is_refused_naming_its_setting(section, url):
    assert one_line(**{section: {"url": url}}).startswith(f"AUTH_{section.upper()}__URL: ")


def test_a_url_error_never_shows_the_password():
    for section, url in [("redis", "http://:hunter2@h/0"), ("broker", "foo://u:hunter2@h/"),
                         ("database", "mysql://u:hunter2@h/db")]:
        assert "hunter2" not in one_line(**{section: {"url": url}})


@pytest.mark.parametrize("section, url", [
    ("redis", "rediss://:pw@cache.example:6380/2"),
    ("redis", "unix:///run/redis.sock?db=1"),
    ("broker", "amqp://guest:guest@127.0.0.1:5672//"),
    ("broker", "redis://127.0.0.1:6379/1"),
    ("broker", "sentinel://127.0.0.1:26379"),
    ("database", "postgresql+asyncpg://u:p@db.example:5433/auth?ssl=require"),
])
def test_usable_urls_are_accepted(section, url):
    extra = {"broker": {"url": "redis://127.0.0.1:6379/1"}} if url.startswith("unix:") else {}
    assert getattr(Settings(**{section: {"url": url}}, **extra), section).url == url


def test_a_unix_socket_redis_needs_a_broker_url_of_its_own():
    # Celery (kombu) has no unix:// transport, and the broker defaults to the Redis URL.
    assert "broker.url" in one_line(redis={"url": "unix:///run/redis.sock"})


# --- keys no setting has ------------------------------------------------------------------

def test_every_section_refuses_keys_it_does_not_have():
    for name, field in Settings.model_fields.items():
        assert issubclass(field.annotation, BaseModel), name
        assert field.annotation.model_config.get("extra") == "forbid", name


def test_a_misspelled_field_is_refused_by_name():
    assert one_line(session={"idle_timeout": 300}) == \
        "AUTH_SESSION__IDLE_TIMEOUT: no such setting (session.idle_timeout)"
    assert one_line(sesion={"idle_timeout_s": 300}) == "AUTH_SESION: no such setting (sesion)"


def test_misspelled_environment_variables_are_refused_by_name(monkeypatch):
    monkeypatch.setenv("AUTH_SESSION__IDLE_TIMEOUT", "300")
    monkeypatch.setenv("AUTH_SESION__IDLE_TIMEOUT_S", "300")
    monkeypatch.setenv("AUTH_UNRELATED", "1")  # no section: not ours to judge
    assert sorted(refused()) == [
        "AUTH_SESION__IDLE_TIMEOUT_S: no such setting (sesion.idle_timeout_s)",
        "AUTH_SESSION__IDLE_TIMEOUT: no such setting (session.idle_timeout)",
    ]


def test_our_own_messages_come_without_pydantics_prefix():
    assert one_line(password={"min_length": 300}).split(": ", 1)[1].startswith("password.min_length")


# --- the AUTH_CONFIG file -----------------------------------------------------------------

def _load_error(monkeypatch, path) -> list[str]:
    monkeypatch.setenv("AUTH_CONFIG", str(path))
    with pytest.raises((ValidationError, ConfigFileError)) as caught:
        Settings()
    lines = describe_load_error(caught.value)
    assert lines is not None
    return lines


def test_a_missing_config_file_is_an_error(monkeypatch, tmp_path):
    assert _load_error(monkeypatch, tmp_path / "prod.toml") == [f"AUTH_CONFIG: {tmp_path / 'prod.toml'}: no such file"]
    assert _load_error(monkeypatch, tmp_path) == [f"AUTH_CONFIG: {tmp_path}: not a file"]


def test_a_malformed_config_file_is_named(monkeypatch, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[http\nport = 1\n")
    [line] = _load_error(monkeypatch, bad)
    assert line.startswith(f"AUTH_CONFIG: {bad} is not valid TOML (")


def test_a_misspelled_key_in_the_config_file_is_refused(monkeypatch, tmp_path):
    conf = tmp_path / "prod.toml"
    conf.write_text("[session]\nidle_timeout = 300\n\n[http]\nport = 9000\n")
    assert _load_error(monkeypatch, conf) == ["AUTH_SESSION__IDLE_TIMEOUT: no such setting (session.idle_timeout)"]


def test_a_config_file_layers_over_the_defaults(monkeypatch, tmp_path):
    conf = tmp_path / "prod.toml"
    conf.write_text("[session]\nidle_timeout_s = 300\n")
    monkeypatch.setenv("AUTH_CONFIG", str(conf))
    assert Settings().session.idle_timeout_s == 300


def test_other_errors_are_not_described_as_settings():
    class Other(BaseModel):
        n: int

    with pytest.raises(ValidationError) as caught:
        Other(n="x")
    assert describe_load_error(caught.value) is None
    assert describe_load_error(ValueError("x")) is None
