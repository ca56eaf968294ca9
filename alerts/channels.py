"""Where alerts go: validated, frozen config for each kind of channel.

The config loader embeds these under `[channels.NAME]`; the `type` key picks
the model, and any unknown key is an error rather than a silently ignored typo::

    [channels.desk]
    type = "email"
    to = ["desk@example.org"]
    from = "newswatch@example.org"
    smtp_host = "mail.example.org"
    smtp_port = 587
    security = "starttls"
    username = "bot"          # password comes from NEWSWATCH_SMTP_PASSWORD

    [channels.hook]
    type = "webhook"
    url = "https://hooks.example.org/newswatch"
    secret = "env:NEWSWATCH_WEBHOOK_SECRET"

    [channels.team]
    type = "apprise"          # Slack, Discord, Telegram, ntfy... (https://github.com/caronc/apprise)
    url = "env:NEWSWATCH_SLACK_URL"   # e.g. slack://T000/B000/XXXX, tgram://bot-token/chat-id
"""

from __future__ import annotations

from email.utils import parseaddr
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

# Headers the webhook notifier sets itself; a channel may not override them.
RESERVED_HEADERS = frozenset(
    {"content-type", "content-length", "host", "idempotency-key", "x-newswatch-signature"}
)


def check_address(value: str) -> str:
    """Accept `desk@example.org` or `Desk <desk@example.org>`; refuse anything else.

    Line breaks and commas are refused outright: they would let one config value
    smuggle extra headers or recipients into a message.
    """
    if any(char in value for char in "\r\n,") or not value.isprintable():
        raise ValueError(f"{value!r} is not a single email address")
    _, address = parseaddr(value)
    local, at, domain = address.rpartition("@")
    if not (at and local and domain) or " " in address or "." in (domain[0], domain[-1]):
        raise ValueError(f"{value!r} is not a plausible email address")
    return value


class EmailChannel(BaseModel):
    """Send each alert as a text + HTML email through one SMTP server."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    type: Literal["email"]
    to: list[str] = Field(min_length=1)
    from_: str = Field(alias="from")
    smtp_host: str = "localhost"
    smtp_port: int = Field(25, ge=1, le=65535)
    security: Literal["none", "starttls", "ssl"] = "none"
    username: str | None = None
    password: SecretStr | None = None
    timeout: float = Field(30, gt=0)

    @field_validator("to")
    @classmethod
    def _check_recipients(cls, value: list[str]) -> list[str]:
        return [check_address(address) for address in value]

    @field_validator("from_")
    @classmethod
    def _check_sender(cls, value: str) -> str:
        return check_address(value)


class WebhookChannel(BaseModel):
    """POST each alert as JSON, signed with HMAC-SHA256 when a secret is set."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["webhook"]
    url: str
    secret: SecretStr | None = None
    timeout: float = Field(10, gt=0)
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value

    @field_validator("headers")
    @classmethod
    def _check_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, content in value.items():
            if name.lower() in RESERVED_HEADERS:
                raise ValueError(f"header {name!r} is set by newswatch and cannot be overridden")
            if not (name.isprintable() and content.isprintable()) or ":" in name:
                raise ValueError(f"header {name!r} has a line break or control character")
        return value


class AppriseChannel(BaseModel):
    """Send each alert through apprise to any service its URL names (`slack://`, `discord://`,
    `tgram://`, `ntfy://`, `json://`...). The whole URL is a secret: services put their
    tokens in it, so a rejected one is never echoed in the error."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    type: Literal["apprise"]
    url: SecretStr

    @field_validator("url")
    @classmethod
    def _apprise_knows_it(cls, value: SecretStr) -> SecretStr:
        from alerts.notifiers.apprise import instantiate  # apprise is imported only when used

        url = value.get_secret_value()
        if instantiate(url) is None:
            scheme = url.partition("://")[0] if "://" in url else "?"
            raise ValueError(
                f"apprise does not recognise this {scheme}:// URL "
                "(see https://github.com/caronc/apprise/wiki for the services and their URLs)"
            )
        return value


Channel = Annotated[EmailChannel | WebhookChannel | AppriseChannel, Field(discriminator="type")]
