"""MQTT in, store out: decoding, validation, dedupe, batching, spool, dead letters, metrics."""
