"""``farmtel backup DIR`` and ``farmtel restore DIR``: the metadata database and the SQLite
telemetry store, copied consistently while farmtel runs, and put back.

A backup folder holds ``metadata.sqlite`` (SQLite online backup API) or ``metadata.pgdump``
(``pg_dump -Fc``), ``telemetry.sqlite`` when the telemetry store is SQLite, and
``manifest.json`` (farmtel version, schema revision, time, each file's size and SHA-256, the
store kind). The metadata is copied first, then the telemetry, so the telemetry copy holds at
least every reading the metadata (alerts, counters) was derived from.

InfluxDB is not backed up by farmtel: ``influxd backup -portable`` / ``influx backup`` do it
(README, "Backup and restore").

Restore checks the manifest and every checksum, refuses a schema newer than the code, refuses
while any process (a running farmtel) has a target database open, and refuses a target that
holds any row unless ``force``; then puts the metadata back, then the telemetry.
"""
