"""Where data rests: the TelemetryStore protocol and its backends, and the metadata database."""
