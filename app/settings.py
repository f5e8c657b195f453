"""Typed settings: the one place defaults live.

Layers, lowest first: ``config/default.toml``, the file named by ``AUTH_CONFIG``,
then environment variables ``AUTH_<SECTION>__<FIELD>``.

A value that parses but cannot work (a batch of 0 that makes every audit drain raise, a
beat interval of 0, a negative TTL, a URL of the wrong scheme, a data key that is not a key,
a cookie name browsers would drop) is refused at load with a ValidationError naming the
setting, instead of failing later at runtime. So is a key no setting has (a misspelling in
the file or an ``AUTH_<SECTION>__<FIELD>`` variable), and a file that ``AUTH_CONFIG`` names but
that is missing or not TOML (ConfigFileError). ``describe_load_error`` turns either into the
lines an operator sees.
"""
from __future__ import annotations

import base64
import binascii
import ipaddress
import logging
import os
import re
import sys
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from pydantic_settings.sources import ConfigFileSourceType

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
DEFAULT_CONFIG = CONFIG_DIR / "default.toml"

security_log = logging.getLogger("app.security")

# RFC 6265 cookie-name: an RFC 2616 token, visible ASCII but no separator. A name with a space,
# ';' or '=' makes aiohttp refuse to write the cookie (a 500 on every login), or, worse, lets the
# name smuggle attributes into Set-Cookie ("sid;Domain=evil.example").
COOKIE_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
DATABASE_DRIVER = "postgresql+asyncpg"  # the engine is SQLAlchemy's asyncio one, on asyncpg
REDIS_SCHEMES = ("redis", "rediss", "unix")


class _Section(BaseModel):
    # A key no field has is a misspelling whose value would be dropped silently
    # (idle_timeout = 300 leaving 1800 s in force): refused by name instead.
    model_config = ConfigDict(extra="forbid")


def _cookie_name(setting: str, name: str) -> str:
    if not COOKIE_NAME.fullmatch(name):
        raise ValueError(f"{setting} must be a cookie name (RFC 6265 token: letters, digits and "
                         f"!#$%&'*+-.^_`|~; no space, quote, ',', ';' or '=')")
    return name


def _cookie_prefix(setting: str, name: str, *, secure: bool, path: str = "/") -> None:
    """Browsers drop a __Secure- or __Host- cookie set without Secure, and a __Host- one with a
    Path other than / (RFC 6265bis 4.1.3): under such a name no cookie would ever be set."""
    lowered = name.lower()  # browsers match the prefixes case-insensitively
    for prefix in ("__Secure-", "__Host-"):
        if lowered.startswith(prefix.lower()) and not secure:
            raise ValueError(f"{setting} {name!r}: a {prefix} cookie must be Secure (browsers drop it "
                             f"otherwise); rename the cookie for plain-http development")
    if lowered.startswith("__host-") and path != "/":
        raise ValueError(f"{setting} {name!r}: a __Host- cookie must have Path=/, this one has Path={path}; "
                         f"use __Secure- instead")


def _scheme(url: str) -> str:
    """The URL's scheme, if it has one worth quoting (never more of the URL: it may hold a password)."""
    scheme, sep, _ = url.partition("://")
    return scheme.lower() if sep and re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme) else ""


class DatabaseSettings(_Section):
    url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/auth"
    pool_size: PositiveInt = 10
    connect_timeout_s: PositiveFloat = 3.0

    @field_validator("url")
    @classmethod
    def _asyncpg_url(cls, url: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        example = f"{DATABASE_DRIVER}://user:password@host:5432/database"
        try:
            parsed = make_url(url)
        except (ArgumentError, ValueError):
            raise ValueError(f"database.url does not parse as a URL ({example})") from None
        if parsed.drivername != DATABASE_DRIVER:
            raise ValueError(f"database.url must start with {DATABASE_DRIVER}:// "
                             f"(the service uses SQLAlchemy's asyncio engine on asyncpg)")
        if not parsed.database:
            raise ValueError(f"database.url must name the database ({example})")
        return url


class RedisSettings(_Section):
    url: str = "redis://127.0.0.1:6379/0"
    # Every key the service writes starts with this, so one Redis can host
    # several deployments (and tests can isolate themselves).
    key_prefix: str = "auth"
    socket_timeout_s: PositiveFloat = 2.0
    # Connections per process; with all of them busy a request waits up to pool_timeout_s
    # for one (then 503), so a burst queues briefly instead of failing.
    max_connections: PositiveInt = 64
    pool_timeout_s: PositiveFloat = 2.0

    @field_validator("url")
    @classmethod
    def _redis_url(cls, url: str) -> str:
        from redis.connection import parse_url

        if _scheme(url) not in REDIS_SCHEMES:
            raise ValueError("redis.url must be a redis://, rediss:// or unix:// URL")
        try:
            parse_url(url)  # the port, the options: what redis-py would refuse at the first connection
        except (ValueError, TypeError):
            raise ValueError("redis.url does not parse (redis://[:password@]host[:port][/db])") from None
        return url


class BrokerSettings(_Section):
    url: str = ""  # empty: use the Redis URL

    @field_validator("url")
    @classmethod
    def _celery_transport(cls, url: str) -> str:
        if not url:
            return url
        from kombu import Connection

        scheme = _scheme(url)
        if not scheme:
            raise ValueError("broker.url must be a URL (redis://host:6379/0, amqp://user:password@host:5672//)")
        try:
            # Parses the URL and loads its transport (kombu's), without connecting.
            Connection(url).transport  # noqa: B018
        except KeyError:
            raise ValueError(f"broker.url: Celery has no transport for {scheme}:// "
                             f"(redis://host:6379/0, amqp://user:password@host:5672//)") from None
        except ImportError:
            raise ValueError(f"broker.url: the library of Celery's {scheme}:// transport is not installed") from None
        except Exception:  # noqa: BLE001 - kombu raises ValueError, NameError ... for what it cannot use
            raise ValueError(f"broker.url does not parse (a {scheme}:// URL)") from None
        return url


class HttpSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    allow_insecure_basic: bool = False
    trusted_proxies: str = ""  # comma-separated addresses or networks (CIDR) whose X-Forwarded-* are believed
    max_body_bytes: PositiveInt = 64 * 1024
    max_json_depth: PositiveInt = 16
    allowed_origins: str = ""  # extra origins accepted on login/register besides the request's own
    cors_origins: str = ""  # CORS is off unless origins are listed here
    workers: NonNegativeInt = 1  # web processes; 0 means one per core

    @property
    def processes(self) -> int:
        return self.workers or os.cpu_count() or 1

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_addresses(cls, value: str) -> str:
        # Matched as addresses, not strings (app.http.clientinfo): an entry that is neither an
        # address nor a network would silently match nothing, and every client would then
        # appear as the proxy (one per-address throttle for all, a wrong audit trail).
        for entry in filter(None, (p.strip() for p in value.split(","))):
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network (CIDR)") from None
        return value

    @property
    def allowed_origin_set(self) -> frozenset[str]:
        return frozenset(o.strip().rstrip("/") for o in self.allowed_origins.split(",") if o.strip())

    @property
    def cors_origin_set(self) -> frozenset[str]:
        return frozenset(o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip())


class SessionSettings(_Section):
    idle_timeout_s: PositiveInt = 1800
    absolute_timeout_s: PositiveInt = 43200
    # Sessions one user holds at once; a login past it ends their least recently used
    # (auth.session.revoked, reason session_limit). Positive: there is no "unlimited".
    max_per_user: PositiveInt = 100
    # In-process cache of validated sessions, invalidated through pub/sub.
    cache_ttl_s: NonNegativeFloat = 5.0
    cache_size: NonNegativeInt = 100_000

    @model_validator(mode="after")
    def _idle_within_absolute(self) -> "SessionSettings":
        # An idle timeout past the absolute one never fires: a misreading of the two, not a choice.
        if self.idle_timeout_s > self.absolute_timeout_s:
            raise ValueError("session.idle_timeout_s must not exceed session.absolute_timeout_s")
        return self


class CookieSettings(_Section):
    name: str = "__Host-id"
    secure: bool = True
    samesite: Literal["Strict", "Lax", "None"] = "Lax"

    @field_validator("name")
    @classmethod
    def _name_is_a_token(cls, name: str) -> str:
        return _cookie_name("cookie.name", name)

    @field_validator("samesite", mode="before")
    @classmethod
    def _samesite_spelling(cls, value: object) -> object:
        # Browsers read the attribute case-insensitively; the cookie is written as spelled here.
        return value.capitalize() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _browsers_keep_it(self) -> "CookieSettings":
        _cookie_prefix("cookie.name", self.name, secure=self.secure)  # written with Path=/
        if self.samesite == "None" and not self.secure:
            raise ValueError("a SameSite=None cookie must be Secure (browsers drop it otherwise)")
        return self


class PasswordSettings(_Section):
    min_length: int = 15
    max_length: int = 256
    # argon2id parameters; the floor is OWASP's m=19 MiB, t=2, p=1.
    time_cost: PositiveInt = 2
    memory_kib: int = Field(default=19456, ge=8)  # argon2's least: 8 KiB per lane
    parallelism: PositiveInt = 1
    # Hashing threads per web process; 0: cores / web processes (at least 1). More threads
    # than cores in all only thrash the cache between 19 MiB hashes and queue the event
    # loops behind them (bench: 0.74x -> 0.85x the raw rate, storm p99 3.4x -> 1.1x idle).
    hash_threads: NonNegativeInt = 0
    # Hashing threads run at this lower CPU priority (nice) so a login storm cannot starve
    # the event loop that answers session checks.
    hash_nice: int = 10
    # A hash that would wait longer than this behind the queued ones is refused with 503
    # overloaded (Retry-After) instead of queued; 0 queues without bound.
    hash_max_wait_s: NonNegativeFloat = 5.0

    @model_validator(mode="after")
    def _floor(self) -> "PasswordSettings":
        if self.min_length < 8:
            raise ValueError("password.min_length below 8 is not allowed (NIST SP 800-63B)")
        if self.max_length < 64:
            raise ValueError("password.max_length must allow at least 64 characters")
        if self.min_length > self.max_length:
            raise ValueError("password.min_length must not exceed password.max_length (no password would do)")
        if self.memory_kib < 8 * self.parallelism:
            raise ValueError("password.memory_kib must be at least 8 x password.parallelism (argon2)")
        # Below the floor is only warned about: tests and local development hash with tiny
        # parameters for speed, and existing hashes are upgraded at login once it is raised.
        if self.memory_kib < 19456 or self.time_cost < 2:
            security_log.warning("argon2id parameters below the OWASP floor (memory_kib=%d, time_cost=%d; "
                                 "floor 19456, 2): stored passwords are cheaper to crack",
                                 self.memory_kib, self.time_cost)
        return self


class TokenSettings(_Section):
    issuer: str = "http://127.0.0.1:8080"
    audience: str = "authsvc"
    access_ttl_s: PositiveInt = 900
    refresh_ttl_s: PositiveInt = 1209600
    refresh_family_ttl_s: PositiveInt = 2592000
    refresh_grace_s: NonNegativeFloat = 10.0
    algorithm: str = "EdDSA"  # or ES256
    # Clock skew, not a grace period: minutes at most, or expired tokens stay good that long.
    leeway_s: int = Field(default=30, ge=0, le=300)
    keys_dir: str = "var/keys"
    # Encrypts private signing keys at rest (they live in Postgres, table signing_keys). Empty: a
    # random passphrase is generated once into <keys_dir>/passphrase (0600); every web process on
    # another host then needs the same file, or set this instead.
    keys_passphrase: str = ""
    # Web processes re-read the key set this often even without a rotation message.
    keys_reload_s: PositiveFloat = 60.0
    # Browser apps: tokens travel in HttpOnly cookies instead of the JSON body.
    cookie_transport: bool = False
    access_cookie: str = "__Host-at"
    refresh_cookie: str = "__Secure-rt"  # Path=/auth, so not __Host-
    cookie_secure: bool = True
    # In-process cache of verified access tokens (dropped over pub/sub; 0 disables).
    cache_ttl_s: NonNegativeFloat = 10.0
    cache_size: NonNegativeInt = 100_000
    max_token_bytes: PositiveInt = 8192

    @model_validator(mode="after")
    def _algorithm_known(self) -> "TokenSettings":
        if self.algorithm not in ("EdDSA", "ES256"):
            raise ValueError("tokens.algorithm must be EdDSA or ES256")
        return self

    @field_validator("access_cookie", "refresh_cookie")
    @classmethod
    def _cookie_names(cls, name: str, info: ValidationInfo) -> str:
        return _cookie_name(f"tokens.{info.field_name}", name)

    @model_validator(mode="after")
    def _browsers_keep_the_cookies(self) -> "TokenSettings":
        # Only the browser transport sets them (app.http.token_cookies): the access cookie with
        # Path=/, the refresh cookie with Path=/auth, both Secure as cookie_secure says.
        if self.cookie_transport:
            _cookie_prefix("tokens.access_cookie", self.access_cookie, secure=self.cookie_secure)
            _cookie_prefix("tokens.refresh_cookie", self.refresh_cookie, secure=self.cookie_secure, path="/auth")
            if self.access_cookie == self.refresh_cookie:
                raise ValueError("tokens.access_cookie and tokens.refresh_cookie must differ")
        return self


class ClientSettings(_Section):
    """API clients (HTTP Basic)."""

    realm: str = "authsvc"
    # A verified client_id:secret is remembered this long per process (argon2 per request
    # would cap throughput at ~60 requests/s/core); dropped over pub/sub when the client changes.
    cache_ttl_s: NonNegativeFloat = 30.0
    cache_size: NonNegativeInt = 10_000


class EventSettings(_Section):
    stream: str = "auth:events"
    source: str = "authsvc"
    audit_group: str = "audit"
    retention_s: PositiveInt = 7 * 86400


class WorkerSettings(_Section):
    session_sweep_interval_s: PositiveFloat = 60.0
    revocation_sweep_interval_s: NonNegativeFloat = 0.0  # 0: 1.5x the access-token lifetime
    audit_drain_interval_s: PositiveFloat = 1.0
    stream_trim_interval_s: PositiveFloat = 300.0
    outbox_relay_interval_s: PositiveFloat = 10.0
    batch_size: PositiveInt = 500  # audit entries per XREADGROUP/INSERT round
    # Sessions per Lua sweep call: ~18 us each, so 100 keeps a call under 2 ms (Redis is
    # single-threaded: other clients wait behind it; 200 sweeps ~20% faster, twice as long a stall).
    sweep_batch_size: PositiveInt = 100
    queue: str = "authsvc"  # the Celery queue the web app sends to and workers consume
    # Pending audit entries idle this long belong to a dead consumer and are reclaimed.
    audit_reclaim_idle_s: PositiveFloat = 60.0
    # A periodic task keeps taking batches for at most this long, then yields to the next run.
    task_budget_s: PositiveFloat = 20.0
    # Outbox rows younger than this are left to the web request that wrote them.
    outbox_min_age_s: NonNegativeFloat = 5.0
    # Test hook only: pause between the audit commit and its XACK (to land a kill there).
    audit_pause_after_commit_s: NonNegativeFloat = 0.0

    def revocation_sweep_every(self, access_ttl_s: int) -> float:
        return self.revocation_sweep_interval_s or 1.5 * access_ttl_s


class ThrottleSettings(_Section):
    account_free_failures: NonNegativeInt = 5
    account_block_after: PositiveInt = 100
    ip_free_failures: NonNegativeInt = 50
    base_delay_s: PositiveFloat = 1.0
    max_delay_s: PositiveFloat = 900.0
    window_s: PositiveInt = 86400
    # A trusted-device cookie lets its holder past a blocked account (the owner's way in).
    device_ttl_s: PositiveInt = 90 * 86400
    # Devices one account may trust at once; past it the oldest is dropped. Each is a budget of
    # guesses of its own: this bounds what a password thief gains by logging in again and again.
    max_devices: int = Field(default=20, ge=1, le=1000)
    device_cookie: str = ""  # empty: the session cookie's name + "-device"


class AuthzSettings(_Section):
    # Actions rules may name; a rule naming any other is refused at write time (422).
    actions: str = "create,read,update,delete,list,manage"
    cache_size: NonNegativeInt = 10_000  # compiled per-caller views kept per process

    @property
    def action_set(self) -> frozenset[str]:
        return frozenset(a.strip() for a in self.actions.split(",") if a.strip())


class SecuritySettings(_Section):
    reauth_window_s: PositiveInt = 600
    # AES-256-GCM key(s) for MFA secrets at rest: urlsafe base64 of 32 random bytes, comma-separated
    # for rotation (the first encrypts). Empty: MFA enrolment is refused (503 mfa_not_configured).
    data_key: str = ""
    mfa_issuer: str = "authsvc"  # the name authenticator apps show
    mfa_challenge_ttl_s: PositiveInt = 300  # life of the MFA-pending token between the two login steps
    hsts_max_age_s: NonNegativeInt = 63072000

    @field_validator("data_key")
    @classmethod
    def _data_keys_are_keys(cls, data_key: str) -> str:
        # Parsed here, not at the first MFA request: a worker or web process with a key that is
        # no key would otherwise start, say "ready", and fail every MFA enrolment and login.
        # The message never quotes the value (it is a secret).
        for number, part in enumerate((p.strip() for p in data_key.split(",")), start=1):
            if not part:
                continue
            if not re.fullmatch(r"[A-Za-z0-9_+/-]+={0,2}", part):
                raise ValueError(f"security.data_key entry {number} is not base64 (urlsafe base64 of 32 random bytes)")
            padded = part.rstrip("=") + "=" * (-len(part.rstrip("=")) % 4)
            try:
                raw = base64.b64decode(padded.translate(str.maketrans("-_", "+/")), validate=True)
            except (binascii.Error, ValueError):
                raise ValueError(f"security.data_key entry {number} is not base64 "
                                 f"(urlsafe base64 of 32 random bytes)") from None
            if len(raw) != 32:
                raise ValueError(f"security.data_key entry {number} is {len(raw)} bytes, not 32 "
                                 f"(urlsafe base64 of 32 random bytes)")
        return data_key


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="AUTH_",
        env_nested_delimiter="__",
        extra="forbid",  # a section no one has, from a file or AUTH_<SECTION>__*: see _UnknownSections
    )

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    session: SessionSettings = Field(default_factory=SessionSettings)
    cookie: CookieSettings = Field(default_factory=CookieSettings)
    password: PasswordSettings = Field(default_factory=PasswordSettings)
    tokens: TokenSettings = Field(default_factory=TokenSettings)
    events: EventSettings = Field(default_factory=EventSettings)
    workers: WorkerSettings = Field(default_factory=WorkerSettings)
    throttle: ThrottleSettings = Field(default_factory=ThrottleSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    authz: AuthzSettings = Field(default_factory=AuthzSettings)
    clients: ClientSettings = Field(default_factory=ClientSettings)

    @property
    def broker_url(self) -> str:
        return self.broker.url or self.redis.url

    # Checks across sections: each runs once the sections it reads are valid (declared earlier),
    # and is reported on its own section (AUTH_BROKER__*, AUTH_TOKENS__*, AUTH_THROTTLE__*).

    @field_validator("broker")
    @classmethod
    def _broker_can_be_the_redis_url(cls, broker: BrokerSettings, info: ValidationInfo) -> BrokerSettings:
        redis = info.data.get("redis")
        if not broker.url and redis is not None and redis.url.startswith("unix:"):
            raise ValueError("broker.url is empty, so Celery would use redis.url, a unix:// socket it cannot "
                             "read; set broker.url (redis+socket:///path/to/redis.sock)")
        return broker

    @field_validator("tokens")
    @classmethod
    def _token_cookies_apart(cls, tokens: TokenSettings, info: ValidationInfo) -> TokenSettings:
        cookie = info.data.get("cookie")
        if tokens.cookie_transport and cookie is not None and cookie.name in (tokens.access_cookie,
                                                                              tokens.refresh_cookie):
            raise ValueError(f"tokens.access_cookie and tokens.refresh_cookie must differ from cookie.name "
                             f"({cookie.name!r}): one cookie cannot carry both")
        return tokens

    @field_validator("throttle")
    @classmethod
    def _device_cookie_kept(cls, throttle: ThrottleSettings, info: ValidationInfo) -> ThrottleSettings:
        cookie, tokens = info.data.get("cookie"), info.data.get("tokens")
        if cookie is None:
            return throttle  # the session cookie's own error is reported; the device's name derives from it
        # As app.http.device_cookie.DeviceCookie writes it: Path=/, Secure as the session cookie.
        name = throttle.device_cookie or f"{cookie.name}-device"
        _cookie_name("throttle.device_cookie", name)
        _cookie_prefix("throttle.device_cookie", name, secure=cookie.secure)
        taken = {cookie.name}
        if tokens is not None and tokens.cookie_transport:
            taken |= {tokens.access_cookie, tokens.refresh_cookie}
        if name in taken:
            raise ValueError(f"throttle.device_cookie {name!r} is the name of another cookie of the service")
        return throttle

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        files = [(DEFAULT_CONFIG, "config/default.toml")]
        extra = os.environ.get("AUTH_CONFIG")
        if extra:
            path = Path(extra).expanduser()
            if not path.is_file():
                # A file named but absent would leave every one of its settings at the defaults.
                raise ConfigFileError("AUTH_CONFIG", f"{path}: {'not a file' if path.exists() else 'no such file'}")
            files.append((path, "AUTH_CONFIG"))
        # Later files win; env beats files; explicit init kwargs beat everything.
        toml_sources = [_TomlFile(settings_cls, toml_file=f, setting=name) for f, name in reversed(files)]
        return (init_settings, env_settings, _UnknownSections(settings_cls), *toml_sources)


class ConfigFileError(ValueError):
    """A configuration file that is named but missing, unreadable or not TOML."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{setting}: {problem}")
        self.setting = setting


class _TomlFile(TomlConfigSettingsSource):
    """A TOML layer whose read errors name the file and the setting that chose it."""

    def __init__(self, settings_cls: type[BaseSettings], *, toml_file: ConfigFileSourceType, setting: str) -> None:
        self._setting = setting
        super().__init__(settings_cls, toml_file=toml_file)

    def _read_file(self, file_path: Any) -> dict[str, Any]:
        try:
            return super()._read_file(file_path)
        except tomllib.TOMLDecodeError as e:
            raise ConfigFileError(self._setting, f"{file_path} is not valid TOML ({e})") from None
        except OSError as e:
            raise ConfigFileError(self._setting, f"{file_path} cannot be read ({e.strerror})") from None


class _UnknownSections(PydanticBaseSettingsSource):
    """``AUTH_<SECTION>__<FIELD>`` variables whose section does not exist, handed to the model so
    that it refuses them by name (pydantic-settings reads only variables of known sections;
    unknown fields of a known section reach the section, which refuses them itself)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for name, value in os.environ.items():
            rest = name.upper().removeprefix("AUTH_")
            section = rest.split("__", 1)[0].lower()
            if rest != name.upper() and "__" in rest and section not in self.settings_cls.model_fields:
                found[rest.lower()] = value
        return found


def load_settings(**overrides: object) -> Settings:
    """:raises ValidationError: a value that cannot work. :raises ConfigFileError: see the class."""
    return Settings(**overrides)


def load_settings_or_exit() -> Settings:
    """``load_settings`` for a process's entry point (preflight, the Celery app): a configuration
    it refuses is one "invalid setting" line per problem on stderr and exit status 2, since a
    traceback would bury the setting's name; anything else (a bug) keeps its traceback."""
    try:
        return load_settings()
    except (ValidationError, ConfigFileError) as e:
        lines = describe_load_error(e)
        if lines is None:
            raise
        report_invalid_settings(lines)
        raise SystemExit(2) from None


def report_invalid_settings(lines: list[str]) -> None:
    for line in lines:
        print(f"invalid setting {line}", file=sys.stderr)


def describe_load_error(exc: BaseException) -> list[str] | None:
    """The lines an operator is shown for a configuration ``load_settings`` refused, or None if
    ``exc`` is no such thing (a bug, whose traceback is worth keeping)."""
    if isinstance(exc, ConfigFileError):
        return [str(exc)]
    if isinstance(exc, ValidationError) and exc.title == Settings.__name__:
        return describe_errors(exc)
    return None


def describe_errors(exc: ValidationError) -> list[str]:
    """One line per refused setting, named by its environment variable (the value may
    come from a TOML file as well; the name says which setting either way)."""
    lines = []
    for error in exc.errors():
        parts = [str(part).upper() for part in error["loc"]]
        if error["type"] == "extra_forbidden":
            # A key no setting has: named as written, in a file ([session] idle_timeout) or in the
            # environment (AUTH_SESSION__IDLE_TIMEOUT), most likely a misspelling.
            dotted = ".".join(str(part) for part in error["loc"]).replace("__", ".").lower()
            lines.append(f"AUTH_{'__'.join(parts)}: no such setting ({dotted})")
            continue
        # A check across fields is reported on its section (AUTH_SESSION__*); its message names them.
        name = "AUTH_" + "__".join(parts if len(parts) > 1 else [*parts, "*"])
        # The message only: the input may be a secret (a passphrase, a data key). Our own checks'
        # messages without pydantic's "Value error, " in front.
        cause = error.get("ctx", {}).get("error") if error["type"] == "value_error" else None
        lines.append(f"{name}: {cause if cause is not None else error['msg']}")
    return lines
