"""MQTT in, a sink out: decoding, validation, dedupe, batching; the store sink (spool, dead
letters) and the alert-engine sink; metrics."""
