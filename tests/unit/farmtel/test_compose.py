"""docker-compose.yml only runs commands the CLI has, with arguments it accepts."""

from __future__ import annotations

from pathlib import Path

import yaml

from farmtel.cli import COMMANDS, parser
from farmtel.settings import Settings

ROOT = Path(__file__).resolve().parents[3]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_every_farmtel_command_in_compose_exists_in_the_cli():
    commands = [s["command"] for s in compose()["services"].values() if "command" in s]
    assert commands, "compose runs no farmtel service"
    for cmd in commands:
        assert cmd[0] == "farmtel"
        assert cmd[1] in COMMANDS
        parser().parse_args(cmd[1:])  # exits (fails the test) on an unknown argument


def test_compose_environment_names_are_settings():
    fields = {f"FARMTEL_{name.upper()}" for name in Settings.model_fields}
    for service in compose()["services"].values():
        for key in service.get("environment", {}):
            if key.startswith("FARMTEL_") and key not in ("FARMTEL_INFLUX_TOKEN",):
                assert key in fields, f"{key} is not a setting"
