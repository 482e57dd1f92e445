"""What is connected: device catalogue, registry, MQTT contract and provisioning."""
