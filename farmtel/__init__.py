"""farmtel: agricultural IoT telemetry and smart-farming backend (composition root)."""

__version__ = "0.1.0"
