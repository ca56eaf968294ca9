"""The config file, read once at the edge into one frozen `Settings` object.

    settings = load_settings(Path("newswatch.toml"))

Everything from the environment is read here and nowhere else:
`NEWSWATCH_DATABASE_URL` overrides `[database] url`, `env:NAME` values are
replaced by the variable's value, and an email channel with a username takes
its password from `NEWSWATCH_SMTP_PASSWORD`. Relative paths resolve against
the config file's folder. Unknown keys are errors. Every problem is one
`ConfigError` line naming the file, the key and what is wrong.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from alerts import DEFAULT_BACKFILL, Channel, RetryPolicy, Rule
from flows.durations import DEFAULT_EVERY, check_cron, check_every, parse_duration
from flows.errors import ConfigError
from flows.fetch import FetchOptions
from flows.gcpause import gc_paused
from storage import StoryOptions

DEFAULT_CONFIG = Path("newswatch.toml")
SMTP_PASSWORD_VARIABLE = "NEWSWATCH_SMTP_PASSWORD"
DATABASE_URL_VARIABLE = "NEWSWATCH_DATABASE_URL"

SourceKind = Literal["feed", "sitemap", "seeds", "urls"]
SOURCE_KINDS: tuple[SourceKind, ...] = ("feed", "sitemap", "seeds", "urls")


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DatabaseSettings(_Strict):
    url: str = "sqlite:///newswatch.db"
    # how long a run's row keeps its per-source table, failures and skipped pages; then its
    # times and totals only (`storage.runs.trim_old_runs`)
    run_details_days: float = Field(default=90, gt=0, le=36500)

    @property
    def run_details(self) -> timedelta:
        return timedelta(days=self.run_details_days)

    @field_validator("url")
    @classmethod
    def _is_database_url(cls, value: str) -> str:
        try:
            make_url(value)
        except ArgumentError:
            raise ValueError("not a database URL (e.g. sqlite:///newswatch.db)") from None
        return value


class StoriesSettings(_Strict):
    """`[stories]`: when near-duplicate articles count as one story. Only the knobs that
    are safe to change on a live store; the fingerprint's shape is fixed in code."""

    window_days: float = Field(default=7.0, gt=0, le=365)
    threshold: float = Field(default=0.5, gt=0, le=1)

    def options(self) -> StoryOptions:
        return StoryOptions(threshold=self.threshold, window=timedelta(days=self.window_days))


QUIET_OFF = "off"


def _check_quiet_after(value: str | None) -> str | None:
    """`off`, or a duration like `3d` longer than zero; ValueError otherwise."""
    if value is not None and value != QUIET_OFF:
        try:
            check_every(value)
        except ValueError:
            raise ValueError('not a duration like 36h or 7d, nor "off"') from None
    return value


class HealthSettings(_Strict):
    """`[health]`: when a feed or sitemap that answers but lists nothing new is called quiet
    (`"off"`: never). URL lists and seeds are quiet only by their own `quiet_after`."""

    quiet_after: str = "7d"

    @field_validator("quiet_after")
    @classmethod
    def _is_duration(cls, value: str) -> str:
        _check_quiet_after(value)
        return value


class SourceSettings(_Strict):
    """One `[[sources]]` entry: exactly one of `feed`, `sitemap`, `seeds` or `urls`."""

    name: str = Field(min_length=1, max_length=200, pattern=r"^[\w][\w .:/-]*$")
    feed: str | None = Field(default=None, pattern=r"^https?://")
    sitemap: str | None = Field(default=None, pattern=r"^https?://")
    seeds: str | None = Field(default=None, min_length=1)
    urls: tuple[str, ...] | None = None
    # How far back a feed's or sitemap's first poll alerts: "24h", "7d", "all".
    backfill: str | None = None
    # When `newswatch serve` or `deploy` polls it: a cron line (UTC) or an interval ("10m");
    # neither means the `[schedule]` default. See flows/deploy.py.
    schedule: str | None = None
    every: str | None = None
    # Kept in the config, listed, tried, exported; not polled by any run or schedule.
    paused: bool = False
    # How long it may list nothing new before `sources list` and the run call it quiet:
    # "36h", "30d", "off"; unset, `[health] quiet_after` for feeds and sitemaps.
    quiet_after: str | None = None

    @field_validator("quiet_after")
    @classmethod
    def _is_quiet_after(cls, value: str | None) -> str | None:
        return _check_quiet_after(value)

    @field_validator("schedule")
    @classmethod
    def _is_cron(cls, value: str | None) -> str | None:
        return check_cron(value)

    @field_validator("every")
    @classmethod
    def _is_interval(cls, value: str | None) -> str | None:
        return check_every(value)

    @model_validator(mode="after")
    def _one_timing(self) -> SourceSettings:
        if self.schedule is not None and self.every is not None:
            raise ValueError("set schedule (a cron line) or every (an interval), not both")
        return self

    @model_validator(mode="after")
    def _one_kind(self) -> SourceSettings:
        given = [kind for kind in SOURCE_KINDS if getattr(self, kind) is not None]
        if len(given) != 1:
            wanted = ", ".join(SOURCE_KINDS)
            raise ValueError(f"needs exactly one of {wanted}; got {given or 'none'}")
        if self.backfill is not None and self.kind in ("seeds", "urls"):
            raise ValueError(
                f"backfill: {self.kind} sources always alert; backfill is for feeds and sitemaps"
            )
        return self

    @field_validator("backfill")
    @classmethod
    def _is_window(cls, value: str | None) -> str | None:
        if value is not None and value != "all":
            parse_duration(value)
        return value

    @property
    def backfill_window(self) -> timedelta | None:
        """How far back the first poll alerts; None for everything."""
        if self.backfill is None:
            return DEFAULT_BACKFILL
        return None if self.backfill == "all" else parse_duration(self.backfill)

    @property
    def kind(self) -> SourceKind:
        return next(kind for kind in SOURCE_KINDS if getattr(self, kind) is not None)

    @property
    def location(self) -> str:
        return self.feed or self.sitemap or self.seeds or "\n".join(self.urls or ())


class ScheduleSettings(_Strict):
    """`[schedule]`: when `newswatch serve` and `deploy` poll sources that name no schedule of
    their own: `every = "15m"` (the default) or `cron = "0 * * * *"`, not both."""

    every: str | None = None
    cron: str | None = None

    @property
    def interval(self) -> str | None:
        """`every`, or the default when neither key is set."""
        return self.every or (None if self.cron else DEFAULT_EVERY)

    @field_validator("cron")
    @classmethod
    def _is_cron(cls, value: str | None) -> str | None:
        return check_cron(value)

    @field_validator("every")
    @classmethod
    def _is_interval(cls, value: str | None) -> str | None:
        return check_every(value)

    @model_validator(mode="after")
    def _one_timing(self) -> ScheduleSettings:
        if self.cron is not None and self.every is not None:
            raise ValueError("set every or cron, not both")
        return self


class DeliverySettings(_Strict):
    """`[delivery]`: how failed deliveries are retried, and the user's message templates."""

    max_attempts: int = Field(default=6, ge=1, le=100)
    backoff: str = "5m"  # the wait after the first failure; it doubles after each next one
    max_backoff: str = "6h"
    lease: str = "10m"  # a claim older than this counts as abandoned by a crashed process
    templates: str | None = None  # a directory whose *.j2 files override the bundled ones

    @field_validator("backoff", "max_backoff", "lease")
    @classmethod
    def _is_duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    def policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_attempts=self.max_attempts,
            backoff=parse_duration(self.backoff),
            max_backoff=parse_duration(self.max_backoff),
            lease=parse_duration(self.lease),
        )


class Settings(_Strict):
    path: Path
    database: DatabaseSettings = DatabaseSettings()
    fetch: FetchOptions = FetchOptions()
    stories: StoriesSettings = StoriesSettings()
    sources: tuple[SourceSettings, ...] = ()
    rules: tuple[Rule, ...] = ()
    channels: dict[str, Channel] = {}
    delivery: DeliverySettings = DeliverySettings()
    schedule: ScheduleSettings = ScheduleSettings()
    health: HealthSettings = HealthSettings()

    @property
    def base(self) -> Path:
        """The folder relative paths in the config are resolved against."""
        return self.path.parent

    @property
    def templates(self) -> Path | None:
        """The user's template directory, resolved, or None for the bundled templates."""
        if self.delivery.templates is None:
            return None
        folder = Path(self.delivery.templates).expanduser()
        return folder if folder.is_absolute() else self.base / folder

    def quiet_after(self, source: SourceSettings) -> timedelta | None:
        """How long `source` may list nothing new before it is called quiet; None: never."""
        given = source.quiet_after
        if given is None:
            given = self.health.quiet_after if source.kind in ("feed", "sitemap") else QUIET_OFF
        return None if given == QUIET_OFF else parse_duration(given)

    def backfill_windows(self) -> dict[str, timedelta | None]:
        """Each source's first-poll window, for `alerts.record_alerts(backfill=...)`."""
        return {source.name: source.backfill_window for source in self.sources}

    @model_validator(mode="after")
    def _names_and_references(self) -> Settings:
        _unique("sources", [source.name for source in self.sources])
        _unique("rules", [rule.name for rule in self.rules])
        for index, rule in enumerate(self.rules):
            for channel in rule.channels:
                if channel not in self.channels:
                    known = ", ".join(sorted(self.channels)) or "none configured"
                    raise ValueError(
                        f"rules[{index}].channels: unknown channel {channel!r} (known: {known})"
                    )
            if rule.digest is not None and rule.mode != "digest":
                raise ValueError(f'rules[{index}].digest: needs mode = "digest" too')
        templates = self.templates
        if templates is not None and not templates.is_dir():
            raise ValueError(f"delivery.templates: {templates} is not a directory")
        return self


def _unique(table: str, names: list[str]) -> None:
    seen: set[str] = set()
    for index, name in enumerate(names):
        if name in seen:
            raise ValueError(f"{table}[{index}].name: {name!r} is used twice")
        seen.add(name)


def load_settings(path: Path, *, environ: Mapping[str, str] | None = None) -> Settings:
    """Read, resolve and validate the config at `path`; raise ConfigError on any problem."""
    environ = os.environ if environ is None else environ
    raw = _read_toml(path)
    raw = _resolve_environment(raw, path=path, environ=environ)
    raw.setdefault("database", {})
    if environ.get(DATABASE_URL_VARIABLE):
        raw["database"] = {**raw["database"], "url": environ[DATABASE_URL_VARIABLE]}
    try:
        with gc_paused():  # thousands of rules: see flows.gcpause
            settings = Settings(path=path.resolve(), **raw)
    except ValidationError as error:
        raise _config_error(error, path=path) from None
    return _with_resolved_database(settings)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError("file not found", path=path) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read: {error}", path=path) from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"invalid TOML: {error}", path=path) from None
    if "path" in data:
        raise ConfigError("unknown key", path=path, key="path")
    return data


def _resolve_environment(
    raw: dict[str, Any], *, path: Path, environ: Mapping[str, str]
) -> dict[str, Any]:
    """Replace `env:NAME` channel values and fill SMTP passwords from the environment."""
    channels = raw.get("channels")
    if not isinstance(channels, dict):
        return raw
    resolved: dict[str, Any] = {}
    for name, channel in channels.items():
        if not isinstance(channel, dict):
            resolved[name] = channel
            continue
        channel = {
            key: _env_value(value, path=path, key=f"channels.{name}.{key}", environ=environ)
            for key, value in channel.items()
        }
        if channel.get("type") == "email" and channel.get("username") and "password" not in channel:
            key = f"channels.{name}.username"
            channel["password"] = _required(SMTP_PASSWORD_VARIABLE, path=path, key=key, env=environ)
        resolved[name] = channel
    return {**raw, "channels": resolved}


def _env_value(value: Any, *, path: Path, key: str, environ: Mapping[str, str]) -> Any:
    if isinstance(value, str) and value.startswith("env:"):
        return _required(value.removeprefix("env:"), path=path, key=key, env=environ)
    return value


def _required(variable: str, *, path: Path, key: str, env: Mapping[str, str]) -> str:
    if not env.get(variable):
        raise ConfigError(f"environment variable {variable} is not set", path=path, key=key)
    return env[variable]


# The config's patterns in words: "String should match pattern '^https?://'" tells no user
_PATTERNS = {
    r"^https?://": "must be an http:// or https:// URL",
    r"^[\w][\w .:/-]*$": (
        "must start with a letter or digit and hold only letters, digits, spaces and . : / - _"
    ),
    r"^(immediate|digest)$": "must be immediate or digest",
    r"^(hourly|daily)$": "must be hourly or daily",
}


def problem_in(detail: ErrorDetails) -> str:
    """What one of pydantic's errors says is wrong, in words a config's writer knows."""
    if detail["type"] == "extra_forbidden":
        return "unknown key"
    if detail["type"] == "missing":
        return "required key is missing"
    pattern = detail.get("ctx", {}).get("pattern")
    if detail["type"] == "string_pattern_mismatch" and pattern in _PATTERNS:
        return _PATTERNS[pattern]
    return detail["msg"].removeprefix("Value error, ")


def _config_error(error: ValidationError, *, path: Path) -> ConfigError:
    first = error.errors()[0]
    key = _dotted(first["loc"])
    message = problem_in(first)
    if "input" in first and first["type"] not in {"missing", "extra_forbidden"}:
        shown = repr(first["input"]) if not isinstance(first["input"], dict) else "a table"
        if not key.startswith("channels") and len(shown) < 80:  # channel values may be secrets
            message += f" (got {shown})"
    if not key and ":" in message.split(" ")[0]:  # model-level messages carry their own key
        key, message = message.split(": ", 1)
    return ConfigError(message, path=path, key=key or None)


def _dotted(location: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for part in location:
        if isinstance(part, int):
            parts[-1:] = [f"{parts[-1]}[{part}]"] if parts else [f"[{part}]"]
        elif part not in {"email", "webhook", "apprise"}:  # pydantic's tag of the channel union
            parts.append(str(part))
    return ".".join(parts)


def _with_resolved_database(settings: Settings) -> Settings:
    """A relative SQLite path is relative to the config file, not to the working folder."""
    url = make_url(settings.database.url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return settings
    database = Path(url.database).expanduser()
    if not database.is_absolute():
        database = settings.base / database
    resolved = url.set(database=str(database)).render_as_string(hide_password=False)
    return settings.model_copy(update={"database": DatabaseSettings(url=resolved)})


def resolve_path(settings: Settings, value: str) -> Path:
    """`value` as a path, relative ones against the config file's folder."""
    candidate = Path(value).expanduser()
    return candidate if candidate.is_absolute() else settings.base / candidate


def select_sources(settings: Settings, names: list[str] | None) -> Settings:
    """`settings` with only the sources called `names` (all when None) that are not paused;
    an unknown name is a ConfigError naming it. A paused source named (by a deployment
    made before it was paused) is left out too: the CLI refuses to name one."""
    if names is not None:
        known = [source.name for source in settings.sources]
        unknown = [name for name in names if name not in known]
        if unknown:
            raise ConfigError(
                f"unknown source {', '.join(map(repr, unknown))} (known: {', '.join(known)})",
                path=settings.path,
                key="sources",
            )
    chosen = tuple(
        source
        for source in settings.sources
        if not source.paused and (names is None or source.name in names)
    )
    return settings.model_copy(update={"sources": chosen})
