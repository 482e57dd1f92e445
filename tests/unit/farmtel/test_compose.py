"""docker-compose.yml only runs commands the CLI has, with arguments it accepts, sets only
settings farmtel has, and gives no two services the same SQLite file (metadata is PostgreSQL);
the image it builds (Dockerfile) has what ``farmtel backup``/``restore`` run on that database."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from farmtel.backup import _postgres
from farmtel.cli import COMMANDS, parser
from farmtel.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
_SUBSTITUTION = re.compile(r"\$\{(\w+)\}")


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def farmtel_services() -> dict[str, dict[str, Any]]:
    """The services that run a farmtel command."""
    return {name: s for name, s in compose()["services"].items()
            if s.get("command", [None])[0] == "farmtel"}


def settings_of(service: dict[str, Any]) -> Settings:
    """The settings a service's environment gives (``${VAR}`` substituted by a placeholder)."""
    values: dict[str, Any] = {key.removeprefix("FARMTEL_").lower(): _SUBSTITUTION.sub("x", str(value))
              for key, value in service.get("environment", {}).items()}
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_every_farmtel_command_in_compose_exists_in_the_cli():
    services = farmtel_services()
    assert {"migrate", "ingest", "alerts", "api", "scheduler", "mosquitto-sync"} <= set(services)
    for service in services.values():
        cmd = service["command"]
        assert cmd[1] in COMMANDS
        parser().parse_args(cmd[1:])  # exits (fails the test) on an unknown argument


def test_compose_environment_names_are_settings():
    fields = {f"FARMTEL_{name.upper()}" for name in Settings.model_fields}
    for name, service in farmtel_services().items():
        for key in service.get("environment", {}):
            assert key in fields, f"{name}: {key} is not a farmtel setting"


def test_every_substituted_secret_is_documented_in_the_header():
    """Each ``${VAR}`` the file reads from .env is named in its header comment."""
    text = COMPOSE.read_text()
    header = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
    for var in set(_SUBSTITUTION.findall(text)):
        assert var in header, f"{var} is read from .env but not documented"


def test_every_service_uses_the_postgresql_metadata_database():
    services = farmtel_services()
    assert "postgres" in compose()["services"]
    urls = {name: settings_of(s).resolved_database_url for name, s in services.items()}
    assert len(set(urls.values())) == 1, urls
    assert next(iter(urls.values())).startswith("postgresql+psycopg://")
    migrate = services.pop("migrate")
    assert migrate["command"] == ["farmtel", "db", "upgrade"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for service in services.values():  # they refuse a database behind their revision
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def _volume_of(service: dict[str, Any], path: str) -> tuple[str, str] | None:
    """(named volume, path inside it) of a container path on a named volume, else None."""
    for mount in service.get("volumes", []):
        source, target = mount.split(":")[:2]
        if not source.startswith((".", "/")) and PurePosixPath(path).is_relative_to(target):
            return source, str(PurePosixPath(path).relative_to(target))
    return None


def test_no_two_services_share_an_sqlite_file():
    users: dict[tuple[str, str], list[str]] = defaultdict(list)
    for name, service in farmtel_services().items():
        settings = settings_of(service)
        for url in (settings.resolved_database_url, settings.resolved_store_url):
            if url.startswith("sqlite:///"):
                path = url.removeprefix("sqlite:///")
                users[_volume_of(service, path) or (name, path)].append(name)
    shared = {file: names for file, names in users.items() if len(names) > 1}
    assert not shared, f"SQLite files shared between containers: {shared}"


def test_the_image_has_the_backup_commands_prerequisites() -> None:
    """``farmtel backup``/``restore`` of the compose's PostgreSQL run ``pg_dump``/``pg_restore``
    of the server's major version, which farmtel looks for where Debian's
    ``postgresql-client-<major>`` puts them; the image is Debian 12 (it has that package for 15),
    installs it, and holds the farmtel package with its backup module."""
    major = compose()["services"]["postgres"]["image"].split(":")[1].split(".")[0]
    text = DOCKERFILE.read_text()
    instructions = [line.strip() for line in re.sub(r"\\\n", " ", text).splitlines()
                    if line.strip() and not line.lstrip().startswith("#")]
    base = next(line.split()[1] for line in instructions if line.startswith("FROM "))
    assert base.endswith("-bookworm"), base  # python:X-slim alone follows Debian's newest release
    installs = [line for line in instructions if line.startswith("RUN ") and "apt-get install" in line]
    assert any(re.search(rf"\bpostgresql-client-{major}\b", line) for line in installs), installs
    for tool in ("pg_dump", "pg_restore"):  # where postgresql-client-<major> installs them
        assert _postgres._DEBIAN_BIN.format(major=major, tool=tool) == \
            f"/usr/lib/postgresql/{major}/bin/{tool}"
    assert "COPY farmtel farmtel" in instructions
    assert (ROOT / "farmtel" / "backup" / "commands.py").is_file()
    services = farmtel_services()
    assert all(s.get("build", ".") == "." for s in services.values())  # every service: this image
