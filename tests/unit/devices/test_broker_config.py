"""deploy/mosquitto.conf is the configuration `farmtel mosquitto-sync`'s files expect, and it
states Mosquitto's queue bounds (README "Broker security", "Reliability")."""

from __future__ import annotations

from pathlib import Path

from devices.broker.mosquitto import render_listener_config

DEPLOY = Path(__file__).resolve().parents[3] / "deploy" / "mosquitto.conf"


def directives() -> list[str]:
    return [line.strip() for line in DEPLOY.read_text().splitlines()
            if line.strip() and not line.startswith("#")]


def test_deploy_config_has_the_generated_listener_section_in_order():
    expected = render_listener_config(Path("/mosquitto/auth/passwd"),
                                      Path("/mosquitto/auth/acl")).splitlines()
    lines = directives()
    at = 0
    for line in expected:  # each in order (ValueError names a missing one)
        at = lines.index(line, at) + 1
    device_block = lines[lines.index("listener 8883"):]
    assert "use_username_as_clientid true" in device_block
    assert "password_file /mosquitto/auth/passwd.services" not in device_block


def test_deploy_config_states_both_queue_bounds():
    settings = dict(line.split(None, 1) for line in directives())
    assert int(settings["max_queued_messages"]) > 0
    assert int(settings["max_queued_bytes"]) > 0
