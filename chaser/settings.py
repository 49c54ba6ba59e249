"""Chaser's settings: every ``CHASER_*`` variable, read once, typed, and checked at start.

:class:`Settings` is the only place the environment is read. ``Settings.load()`` reads the
process environment and a ``.env`` file in the working directory (the environment wins), then
the command line's ``--db`` and ``--config`` override both; ``Settings.from_env(mapping)`` reads
only the mapping given (tests, the demo). A wrong value stops Chaser at start with one line per
mistake naming the variable and the fix (:class:`SettingsError`); secrets are ``SecretStr`` and
never shown, and a placeholder secret ("changeme") is refused.

Every variable is listed, with its default and meaning, in ``docs/settings.md``, which
:func:`variables_table` writes (a test keeps the two equal).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
#: The configuration shipped with Chaser (the Plymouth worked example). Used when ``./config``
#: does not exist, so the embedded defaults work from any directory.
SHIPPED_CONFIG_DIR = REPO_ROOT / "config"
#: Sample plan, people and governance files shipped for the demo and the tests.
SAMPLES_DIR = Path(__file__).resolve().parent / "samples"

PREFIX = "CHASER_"
#: Teams webhooks are one variable per group: CHASER_TEAMS_WEBHOOK_SIB, _SSDG, …
TEAMS_WEBHOOK_PREFIX = "CHASER_TEAMS_WEBHOOK_"
#: Secrets that are examples, not secrets (compared case-insensitively, as substrings).
PLACEHOLDERS = ("changeme", "change-me", "change_me", "changethis", "placeholder", "your-secret")
MIN_SECRET_KEY = 32
TRUE = ("1", "yes", "true", "on")
FALSE = ("0", "no", "false", "off")


class SettingsError(ValueError):
    """A setting is missing or wrong: one line per mistake, each naming the variable and fix."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/chaser``, else ``~/.local/share/chaser``."""
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "chaser"


def default_config_dir() -> Path:
    local = Path("config")
    return local if local.is_dir() else SHIPPED_CONFIG_DIR


HostPort = tuple[str, int]
#: ``HOST:PORT`` in a variable (read as text, not JSON).
HostPortSetting = Annotated[HostPort | None, NoDecode]


def _host_port(value: Any, example: str) -> HostPort | None:
    if value is None or value == "" or isinstance(value, tuple):
        return value or None
    host, _, port = str(value).rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"is not host:port; write e.g. {example}")
    return host.strip("[]"), int(port)


def _flag(value: Any, *, auto: bool = False) -> bool | Literal["auto"]:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if auto and text in ("", "auto"):
        return "auto"
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise ValueError("is not understood; write auto, yes or no" if auto else "write yes or no")


class Settings(BaseSettings):
    """Everything Chaser reads from its environment. See ``docs/settings.md``."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        frozen=True,
        validate_default=True,
        env_ignore_empty=True,
    )

    # -- where things are ---------------------------------------------------------------------
    database_url: str = Field(
        "",
        description="The status store: `sqlite:///PATH` or `postgresql://USER@HOST/DB`. "
        "Default: `chaser.db` in the data directory. The `--db` option overrides it.",
    )
    config_dir: Path = Field(
        default_factory=default_config_dir,
        validation_alias=AliasChoices("config_dir", "CHASER_CONFIG"),
        description="The admin-edited configuration (cycles.yaml, chasing.yaml, digest.yaml, "
        "mappings/, templates/). Default: `./config`, else the shipped Plymouth example. "
        "The `--config` option overrides it.",
    )
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Where Chaser keeps its SQLite store, generated signing key, digests and "
        "status files. Default: `$XDG_DATA_HOME/chaser` or `~/.local/share/chaser`.",
    )
    secret_key: SecretStr | None = Field(
        None,
        description="Signs reply links, references and CSRF tokens: at least 32 random "
        "characters, the same on every worker. Default: one generated once and kept in the "
        "data directory (`secret.key`).",
    )

    # -- the service --------------------------------------------------------------------------
    web_listen: HostPortSetting = Field(
        None,
        description="Where the web app listens, `HOST:PORT`. Default: `127.0.0.1` and the port "
        "of `form_url` in chasing.yaml.",
    )
    inbound_smtp: HostPortSetting = Field(
        None,
        description="Where to listen for emailed replies over SMTP, `HOST:PORT` (e.g. "
        "`127.0.0.1:2525`, behind the council's mail relay). Default: not listening.",
    )
    inbound_smtp_relays: Annotated[tuple[str, ...], NoDecode] = Field(
        ("127.0.0.1", "::1"),
        description="Who may hand the SMTP listener mail: the addresses (or networks) of the "
        "council's mail relays, comma-separated. Anyone else is refused at connection. "
        "Default: this computer only.",
    )
    inbound_authserv_ids: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        description="The `authserv-id` of the mail server whose `Authentication-Results` header "
        "Chaser believes (the council's inbound gateway, e.g. `mx.council.gov.uk`), "
        "comma-separated. A header from anyone else is the sender's own word. Default: none, so "
        "an emailed update over SMTP goes to review unless Microsoft Graph vouched for it.",
    )
    metrics_token: SecretStr | None = Field(
        None,
        description="A bearer token Prometheus presents to scrape `/metrics` from another "
        "computer. Default: none, so `/metrics` answers only on this computer (loopback).",
    )
    log_format: Literal["auto", "json", "console"] = Field(
        "auto",
        description="`json` lines, `console` text, or `auto`: JSON unless writing to a terminal.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="The least severe log lines written."
    )

    # -- signing in to the secretary's pages --------------------------------------------------
    signin_email: bool = Field(
        True,
        description="Offer sign-in by a one-time link sent by email (for people outside the "
        "tenant, and the embedded default).",
    )
    entra_tenant_id: str = Field(
        "",
        description="Sign staff in with Microsoft Entra ID: the council's tenant id, or "
        "`organizations` for several tenants (see `ENTRA_ALLOWED_TENANTS`).",
    )
    entra_client_id: str = Field("", description="The sign-in app registration's client id.")
    entra_client_secret: SecretStr | None = Field(
        None, description="Its client secret (the Value)."
    )
    entra_allowed_tenants: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        description="With `ENTRA_TENANT_ID=organizations`: the tenants whose accounts may sign "
        "in, comma-separated (the council's, the NHS trust's…). Empty: any tenant.",
    )
    entra_authority_host: str = Field(
        "https://login.microsoftonline.com", description="Entra ID's address for sign-in."
    )
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        description="Addresses (or networks, `10.0.0.0/8`) of the reverse proxies whose "
        "`X-Forwarded-For` and `X-Forwarded-Proto` are believed, comma-separated. Default: none.",
    )
    session_idle_minutes: int = Field(
        60, ge=5, le=366 * 24 * 60, description="A session ends after this long unused."
    )
    session_hours: int = Field(
        12, ge=1, le=366 * 24, description="A session ends this long after sign-in, whatever."
    )

    # -- email by SMTP ------------------------------------------------------------------------
    smtp_host: str = Field(
        "", description="The mail server to send through. Setting it chooses SMTP for email."
    )
    smtp_port: int = Field(587, description="Its port (587 with STARTTLS, 465 with `SMTP_SSL`).")
    smtp_username: str = Field("", description="Login name, if the server needs one.")
    smtp_password: SecretStr | None = Field(None, description="Its password.")
    smtp_starttls: bool | Literal["auto"] = Field(
        "auto",
        description="`yes` requires STARTTLS, `no` never uses it (a local relay), `auto` uses it "
        "when offered.",
    )
    smtp_ssl: bool = Field(False, description="`yes` for implicit TLS from the first byte (465).")

    # -- Microsoft 365 (Graph) ------------------------------------------------------------------
    graph_tenant_id: str = Field(
        "",
        description="The Entra ID tenant that owns the shared mailbox. With the client id and "
        "secret, chooses Graph for email (unless `SMTP_HOST` is set) and reads replies from the "
        "mailbox.",
    )
    graph_client_id: str = Field("", description="The app registration's client id.")
    graph_client_secret: SecretStr | None = Field(
        None, description="The app registration's client secret (its Value, not its Secret ID)."
    )
    graph_mailbox: str = Field(
        "",
        description="The shared mailbox. Default: `sender.mailbox` in chasing.yaml, which it must "
        "equal.",
    )
    graph_authority_host: str = Field(
        "https://login.microsoftonline.com",
        description="Entra ID's address (national clouds, tests).",
    )
    graph_url: str = Field(
        "https://graph.microsoft.com/v1.0", description="Graph's address and version."
    )
    graph_poll: bool = Field(
        True,
        description="`no` stops reading replies from the mailbox (another system reads it).",
    )

    # -- Microsoft Teams ------------------------------------------------------------------------
    teams_webhooks: dict[str, SecretStr] = Field(
        default_factory=dict,
        validation_alias=AliasChoices("teams_webhooks"),
        description="`CHASER_TEAMS_WEBHOOK_<GROUP>`: the URL of the Teams Workflows webhook that "
        "posts to a group's channel (e.g. `CHASER_TEAMS_WEBHOOK_SIB`). A secret: it carries a "
        "signature.",
    )

    #: The fields that hold secrets: never shown in an error or a log line.
    SECRETS: ClassVar[frozenset[str]] = frozenset(
        {
            "secret_key",
            "smtp_password",
            "graph_client_secret",
            "entra_client_secret",
            "teams_webhooks",
        }
    )

    # -- validation ----------------------------------------------------------------------------
    @field_validator("web_listen", mode="before")
    @classmethod
    def _web_listen(cls, value: Any) -> HostPort | None:
        return _host_port(value, "127.0.0.1:8080")

    @field_validator("inbound_smtp", mode="before")
    @classmethod
    def _inbound_smtp(cls, value: Any) -> HostPort | None:
        return _host_port(value, "127.0.0.1:2525")

    @field_validator("smtp_port", mode="before")
    @classmethod
    def _port(cls, value: Any) -> Any:
        if isinstance(value, str) and not (value.isdigit() and 0 < int(value) < 65536):
            raise ValueError("is not a port number; write a whole number from 1 to 65535")
        return value

    @field_validator("smtp_starttls", mode="before")
    @classmethod
    def _starttls(cls, value: Any) -> bool | Literal["auto"]:
        return _flag(value, auto=True)

    @field_validator("smtp_ssl", "graph_poll", "signin_email", mode="before")
    @classmethod
    def _yes_no(cls, value: Any) -> bool | Literal["auto"]:
        return _flag(value)

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator(
        "entra_allowed_tenants",
        "trusted_proxies",
        "inbound_smtp_relays",
        "inbound_authserv_ids",
        mode="before",
    )
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("trusted_proxies", "inbound_smtp_relays")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for part in value:
            try:
                ipaddress.ip_network(part, strict=False)
            except ValueError:
                raise ValueError(
                    f"{part!r} is not an address or network; write e.g. 10.0.0.5 or 10.0.0.0/8"
                ) from None
        return value

    @field_validator("graph_authority_host", "graph_url", "entra_authority_host")
    @classmethod
    def _https(cls, value: str) -> str:
        if not value.startswith("https://"):
            raise ValueError("must be an https:// address (Entra ID and Graph take nothing else)")
        return value.rstrip("/")

    @field_validator("secret_key")
    @classmethod
    def _secret_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        secret = value.get_secret_value()
        if any(p in secret.lower() for p in PLACEHOLDERS):
            raise ValueError(
                "is a placeholder, not a secret; generate one with: "
                "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        if len(secret) < MIN_SECRET_KEY:
            raise ValueError(
                f"is too short; use at least {MIN_SECRET_KEY} random characters "
                "(python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        return value

    @field_validator("smtp_password", "graph_client_secret", "entra_client_secret", "metrics_token")
    @classmethod
    def _no_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and any(p in value.get_secret_value().lower() for p in PLACEHOLDERS):
            raise ValueError("is a placeholder, not the real secret; set the real one")
        return value

    @model_validator(mode="after")
    def _entra_complete(self) -> Settings:
        entra = {
            "CHASER_ENTRA_TENANT_ID": self.entra_tenant_id,
            "CHASER_ENTRA_CLIENT_ID": self.entra_client_id,
            "CHASER_ENTRA_CLIENT_SECRET": self.entra_client_secret,
        }
        if any(entra.values()) and not all(entra.values()):
            missing = ", ".join(name for name, value in entra.items() if not value)
            raise ValueError(
                "set all of CHASER_ENTRA_TENANT_ID, CHASER_ENTRA_CLIENT_ID and "
                f"CHASER_ENTRA_CLIENT_SECRET to sign staff in with Microsoft (missing: {missing})"
            )
        return self

    @model_validator(mode="after")
    def _graph_complete(self) -> Settings:
        graph = {
            "CHASER_GRAPH_TENANT_ID": self.graph_tenant_id,
            "CHASER_GRAPH_CLIENT_ID": self.graph_client_id,
            "CHASER_GRAPH_CLIENT_SECRET": self.graph_client_secret,
        }
        if any(graph.values()) and not all(graph.values()):
            missing = ", ".join(name for name, value in graph.items() if not value)
            raise ValueError(
                "set all of CHASER_GRAPH_TENANT_ID, CHASER_GRAPH_CLIENT_ID and "
                f"CHASER_GRAPH_CLIENT_SECRET to use Microsoft Graph (missing: {missing})"
            )
        return self

    # -- derived -------------------------------------------------------------------------------
    @property
    def graph_configured(self) -> bool:
        return bool(self.graph_tenant_id)

    @property
    def entra_configured(self) -> bool:
        return bool(self.entra_tenant_id)

    @property
    def signin_configured(self) -> bool:
        """Whether people can sign in from anywhere: with Microsoft, or by an emailed link that
        really is emailed (SMTP or Graph, not the development channel's files). Until then the
        secretary's pages are served only to a browser on the computer running Chaser."""
        return self.entra_configured or (
            self.signin_email and bool(self.smtp_host or self.graph_configured)
        )

    @property
    def store_url(self) -> str:
        """The database URL: as set, else a SQLite file in the data directory."""
        return self.database_url or f"sqlite:///{self.data_dir / 'chaser.db'}"

    # -- loading -------------------------------------------------------------------------------
    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """The process environment and ``./.env``; ``overrides`` (the CLI's options) win."""
        return _build(cls, None, {k: v for k, v in overrides.items() if v not in (None, "")})

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: Any) -> Settings:
        """Only ``environ`` (no process environment, no ``.env``); ``overrides`` win."""
        return _build(cls, dict(environ), overrides)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        given = _GIVEN.get()
        if given is not None:
            return (init_settings, _MappingSource(settings_cls, given), _Webhooks(given))
        files = getattr(dotenv_settings, "env_vars", {}) or {}
        webhooks = _Webhooks({**{k.upper(): v for k, v in files.items() if v}, **os.environ})
        return (init_settings, env_settings, dotenv_settings, webhooks)


#: The mapping ``from_env`` reads, while it builds (a context variable: thread-safe).
_GIVEN: ContextVar[dict[str, str] | None] = ContextVar("chaser_settings_environ", default=None)


class _MappingSource(EnvSettingsSource):
    """The environment source, reading a given mapping instead of ``os.environ``."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._given = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {k.lower(): v for k, v in self._given.items()}


class _Webhooks(PydanticBaseSettingsSource):
    """``CHASER_TEAMS_WEBHOOK_<GROUP>`` variables, gathered into ``teams_webhooks``."""

    def __init__(self, environ: Mapping[str, str | None]) -> None:
        self._environ = environ

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        hooks = {
            k[len(TEAMS_WEBHOOK_PREFIX) :].upper(): v
            for k, v in self._environ.items()
            if k.upper().startswith(TEAMS_WEBHOOK_PREFIX) and v
        }
        return {"teams_webhooks": hooks} if hooks else {}


def _build(
    cls: type[Settings], environ: dict[str, str] | None, overrides: dict[str, Any]
) -> Settings:
    token = _GIVEN.set(environ)
    try:
        return cls(**overrides)
    except ValidationError as exc:
        raise SettingsError([_problem(cls, error) for error in exc.errors()]) from None
    finally:
        _GIVEN.reset(token)


def _problem(cls: type[Settings], error: Any) -> str:
    """``CHASER_SMTP_PORT='smtp' is not a port number; write …`` (secrets never shown)."""
    message = str(error["msg"]).removeprefix("Value error, ")
    loc = [str(p) for p in error.get("loc", ())]
    if not loc:
        return message
    name = loc[0]
    variable = env_name(cls, name)
    if name in cls.SECRETS or name not in cls.model_fields:
        return f"{variable} {message}"
    return f"{variable}={error.get('input')!r} {message}"


def env_name(cls: type[Settings], field: str) -> str:
    """The variable a field is read from."""
    if field == "teams_webhooks":
        return f"{TEAMS_WEBHOOK_PREFIX}<GROUP>"
    info = cls.model_fields.get(field)
    alias = info.validation_alias if info is not None else None
    if isinstance(alias, AliasChoices):
        named = [c for c in alias.choices if isinstance(c, str) and c.startswith(PREFIX)]
        if named:
            return named[0]
    return f"{PREFIX}{field.upper()}"


def variables() -> Iterator[tuple[str, str, str]]:
    """(variable, default, meaning) for every setting, in the order they are declared."""
    for name, info in Settings.model_fields.items():
        default = "" if info.default in (None, "", {}) else info.default
        if info.default_factory is not None or name in Settings.SECRETS:
            default = ""
        if isinstance(default, bool):
            default = "yes" if default else "no"
        yield env_name(Settings, name), str(default), info.description or ""


def variables_table() -> str:
    """The Markdown table of every variable (``docs/settings.md`` holds it)."""
    rows = ["| Variable | Default | What it does |", "| --- | --- | --- |"]
    for variable, default, meaning in variables():
        shown = f"`{default}`" if default else ""
        rows.append(f"| `{variable}` | {shown} | {meaning} |")
    return "\n".join(rows) + "\n"
