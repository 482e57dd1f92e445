"""The one settings object: every knob of farmtel, read from ``FARMTEL_*`` env vars or ``.env``."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """farmtel configuration. Build it in ``main()``, never at import time."""

    model_config = SettingsConfigDict(env_prefix="FARMTEL_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="Where SQLite files, spool and secrets live.")
    admin_token: str | None = Field(default=None, description="Admin bearer token; generated if unset.")
    database_url: str | None = Field(default=None, description="Metadata DB (SQLAlchemy URL).")
    store_url: str | None = Field(
        default=None, description="Telemetry store: sqlite:///path or influxdb://[user:pw@]host:port/db"
    )

    mqtt_host: str | None = Field(default=None, description="External broker; unset = embedded one.")
    mqtt_port: int = 1883
    mqtt_username: str | None = None
    mqtt_password: str | None = None
    mqtt_client_id: str = Field(
        default="farmtel-ingest",
        description="Base identity of ingest: each worker claims the lowest free slot, this id "
        "(slot 0) or `<id>-<k>`, by a lock under the shared spool folder: its MQTT client id, "
        "spool and counters, stable across restarts and host names (README \"Replicas\").",
    )
    mqtt_protocol: Literal["3.1.1", "5"] = Field(
        default="3.1.1", description="MQTT 5 lets ingest announce a large receive maximum."
    )
    mqtt_shared_group: str | None = Field(
        default=None, description="Join $share/<group>/... so N ingest workers split the load."
    )
    ingest_alerts: bool = Field(
        default=True,
        description="Evaluate streaming alert rules inside each ingest worker. Set false when "
        "`farmtel alerts` runs them (recommended with more than one ingest worker).",
    )
    alert_feed_client_id: str = Field(
        default="farmtel-alerts-feed",
        description="MQTT client id of `farmtel alerts` (`{hostname}` as for ingest).",
    )
    alert_feed_shared_group: str | None = Field(
        default=None,
        description="Shared group of several `farmtel alerts` processes; only with a broker "
        "that routes by topic hash (EMQX hash_topic), so each device stays on one engine.",
    )
    embedded_broker_host: str = "127.0.0.1"

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    web_session_idle_s: int = Field(
        default=2 * 3600, ge=60,
        description="A page session not used for this long ends [s] (sign in again).",
    )
    web_session_max_age_s: int = Field(
        default=12 * 3600, ge=60,
        description="A page session ends this long after sign-in, however busy [s].",
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Addresses or networks (comma-separated, e.g. `10.0.0.0/8,127.0.0.1`) of "
        "TLS-terminating proxies whose X-Forwarded-Proto/-For the API believes; empty: none.",
    )
    api_metrics: bool = Field(
        default=True, description="Serve GET /metrics (Prometheus, no token) on the API port."
    )

    # Operations (see README "Operations")
    metrics_port: int = Field(
        default=0, ge=0, description="Workers (ingest, alerts, scheduler, up) serve Prometheus "
        "metrics on http://metrics_host:metrics_port/metrics; 0 = off.",
    )
    metrics_host: str = Field(
        default="127.0.0.1", description="Address of the metrics port (0.0.0.0 in containers)."
    )
    log_format: Literal["text", "json"] = Field(
        default="text", description="json: one JSON object per log line (time, level, logger, "
        "message, exception, extra fields).",
    )

    max_payload_bytes: int = 256 * 1024
    batch_max_readings: int = 5000
    flush_interval_ms: int = 200
    stats_interval_s: float = Field(
        default=1.0, gt=0,
        description="How often each ingest worker saves its counters to the metadata DB [s].",
    )
    ingest_stale_after_s: float = Field(
        default=30.0, gt=0,
        description="An ingest worker whose saved counters are older than this [s] is gone: "
        "it leaves the live view of /ingest/stats and /health (its counters stay in the totals).",
    )
    max_clock_skew_future_s: int = Field(
        default=300, description="A reading further ahead of the server's clock than this is "
        "stored with the CLOCK_SUSPECT quality flag [s].",
    )
    max_clock_future_s: int = Field(
        default=900, description="A reading further ahead than this is refused (clock_future), "
        "its message kept whole in the dead-letter replay area [s].",
    )
    max_age_days: int = 365
    dead_letter_keep: int = 10_000
    dead_letter_payload_bytes: int = 1024
    dead_letter_max_age_days: float = Field(
        default=30.0, description="Dead letters older than this are pruned (counts stay exact)."
    )
    dead_letter_replay_keep: int = Field(
        default=10_000, ge=0, description="Replay area: at most this many refused messages kept "
        "whole for replay (the oldest evicted first, counted as replay_evicted).",
    )
    dead_letter_replay_max_bytes: int = Field(
        default=64 * 1024 * 1024, ge=0,
        description="Replay area: at most this many payload bytes (the oldest evicted first).",
    )
    dedupe_capacity: int = Field(
        default=500_000,
        description="Recent (device, ts, seq) keys kept to drop resends (~240 bytes each).",
    )
    spool_max_bytes: int = Field(
        default=512 * 1024 * 1024,
        description="On-disk spool bound; when full, ingest stops acknowledging (backpressure).",
    )

    # MQTT security (see README "Broker security" and "TLS")
    sim_mqtt_username: str | None = Field(default=None, description="Simulator service account.")
    sim_mqtt_password: str | None = None
    embedded_broker_anonymous: bool = Field(
        default=True,
        description="Local demo mode of `farmtel up`: the embedded broker admits anonymous "
        "clients. Set false to enforce registry credentials and ACLs there too.",
    )
    embedded_broker_tls_port: int | None = Field(
        default=None, description="Also serve MQTT over TLS on this port (embedded broker)."
    )
    embedded_broker_max_queued_messages: int = Field(
        default=5_000_000, ge=0,
        description="Embedded broker: messages queued per offline persistent session at most "
        "(as Mosquitto's max_queued_messages in deploy/mosquitto.conf; 0 = no bound). Newer "
        "messages are dropped, counted (farmtel_broker_queue_dropped_total) and logged.",
    )
    embedded_broker_max_queued_bytes: int = Field(
        default=1_073_741_824, ge=0,
        description="Embedded broker: payload bytes queued per offline persistent session at "
        "most (as Mosquitto's max_queued_bytes; 0 = no bound).",
    )
    embedded_broker_tls_cert_file: Path | None = None
    embedded_broker_tls_key_file: Path | None = None
    mqtt_tls_ca_file: Path | None = Field(
        default=None, description="CA bundle: set it to connect ingest/simulators over TLS."
    )
    mqtt_tls_cert_file: Path | None = Field(default=None, description="Client certificate (mTLS).")
    mqtt_tls_key_file: Path | None = None
    mosquitto_password_file: Path | None = Field(
        default=None, description="`farmtel mosquitto-sync` writes Mosquitto's password file here."
    )
    mosquitto_acl_file: Path | None = Field(
        default=None, description="`farmtel mosquitto-sync` writes Mosquitto's ACL file here."
    )
    mosquitto_pid_file: Path | None = Field(
        default=None, description="Mosquitto's pid file: SIGHUP after a sync so it reloads."
    )

    alert_webhooks: list[str] = Field(
        default_factory=list, description="URLs that receive each alert transition (JSON POST)."
    )
    alert_tick_interval_s: int = Field(default=60, description="No-data rule evaluation period.")
    field_water_interval_s: int = Field(default=3600, description="Field-water job period.")
    raw_retention_days: int = Field(
        default=400, ge=1,
        description="Raw telemetry is kept this long [days] (a full season and its successor); "
        "older readings are deleted once rolled up (README: Retention and downsampling).",
    )
    rollup_retention_days: int | None = Field(
        default=None, ge=1, description="Hourly and daily rollups are kept this long [days]; "
        "unset: forever.",
    )
    alert_page_base_url: str = Field(
        default="http://localhost:8000", description="Base of the alert-page links in messages."
    )
    notify_timeout_s: float = Field(default=10.0, gt=0, description="Per-attempt timeout of "
                                    "the e-mail, WeCom, DingTalk and SMS channels [s].")
    notify_max_attempts: int = Field(default=6, ge=1, description="Tries per notification.")
    notify_backoff_s: float = Field(default=1.0, ge=0, description="First retry pause [s], "
                                    "doubling up to 60 s (±20 % jitter).")
    smtp_host: str | None = Field(default=None, description="SMTP server; unset = no e-mail.")
    smtp_port: int = Field(default=25, description="SMTP port (587 with STARTTLS).")
    smtp_from: str | None = Field(default=None, description="From address of alert e-mail.")
    smtp_user: str | None = Field(default=None, description="SMTP login (optional).")
    smtp_password: str | None = Field(default=None, description="SMTP password (optional).")
    smtp_starttls: bool = Field(default=False, description="Upgrade SMTP with STARTTLS.")
    wecom_base_url: str = Field(default="https://qyapi.weixin.qq.com",
                                description="WeCom robot endpoint base.")
    wecom_robot_key: str | None = Field(default=None, description="WeCom group robot key.")
    dingtalk_base_url: str = Field(default="https://oapi.dingtalk.com",
                                   description="DingTalk robot endpoint base.")
    dingtalk_access_token: str | None = Field(default=None, description="DingTalk robot token.")
    dingtalk_secret: str | None = Field(default=None, description="DingTalk 加签 secret (SEC…).")
    aliyun_sms_base_url: str = Field(default="https://dysmsapi.aliyuncs.com",
                                     description="Alibaba Cloud SMS endpoint base.")
    aliyun_sms_region_id: str = Field(default="cn-hangzhou", description="SMS RegionId.")
    aliyun_access_key_id: str | None = Field(default=None, description="SMS AccessKeyId.")
    aliyun_access_key_secret: str | None = Field(default=None, description="SMS AccessKey secret.")
    aliyun_sms_sign_name: str | None = Field(default=None, description="Approved SMS SignName.")
    aliyun_sms_template_code: str | None = Field(
        default=None, description="Approved SMS template (SMS_…) with ${level} ${title} "
        "${site} ${value} ${time}."
    )

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        for entry in value if isinstance(value, list) else []:
            ipaddress.ip_network(entry, strict=False)  # ValueError: not an address or network
        return value

    @field_validator("mqtt_client_id", "alert_feed_client_id")
    @classmethod
    def _expand_hostname(cls, value: str) -> str:
        return value.replace("{hostname}", socket.gethostname())

    @property
    def resolved_database_url(self) -> str:
        """Metadata database URL, defaulting to a SQLite file under the data dir."""
        return self.database_url or f"sqlite:///{self.data_dir / 'farmtel.db'}"

    @property
    def resolved_store_url(self) -> str:
        """Telemetry store URL, defaulting to a SQLite file under the data dir."""
        return self.store_url or f"sqlite:///{self.data_dir / 'telemetry.db'}"

    @property
    def uses_embedded_broker(self) -> bool:
        """True when no external broker is configured."""
        return self.mqtt_host is None

    @property
    def broker_host(self) -> str:
        """Host that MQTT clients connect to."""
        return self.mqtt_host or self.embedded_broker_host
