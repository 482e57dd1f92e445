"""``farmtel`` command line: up, ingest, alerts, api, scheduler, simulate, mosquitto-sync.

Every command runs its parts the same way: inside one ``ExitStack``, each part started and its
stop registered right away, so the parts stop in reverse order of starting, also on errors.
A long-running command stops cleanly on SIGINT or SIGTERM (``farmtel._signals``).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from farmtel._signals import StopSignals, running, serve_api
from farmtel.backup.commands import add_backup_commands, cmd_backup, cmd_restore
from farmtel.db_commands import add_db_commands, cmd_db, schema_refusals
from farmtel.logs import configure_logging
from farmtel.settings import Settings

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.registry import Collector

    from analytics.alerts.service import AlertService
    from devices.directory import DeviceDirectory
    from farmtel.runtime import Metadata
    from storage.telemetry import TelemetryStore

log = logging.getLogger("farmtel")

COMMANDS = ("up", "ingest", "alerts", "api", "scheduler", "simulate", "mosquitto-sync", "backup",
            "restore", "db")


class _Part(Protocol):
    """Something a command runs: started once, stopped once."""

    def start(self) -> None: ...

    def stop(self) -> object: ...


P = TypeVar("P", bound=_Part)


def _started(stack: ExitStack, part: P) -> P:
    """Start ``part`` and have ``stack`` stop it (in reverse order of starting)."""
    part.start()
    stack.callback(part.stop)
    return part


def _serve_api(app: Any, settings: Settings, stop: StopSignals) -> None:
    """Serve the API until ``stop``."""
    import gc

    # Everything built so far lives as long as the process: keep it out of the collector's
    # full passes, which otherwise cost 50-100 ms every few heavy requests (bench/api.py).
    gc.collect()
    gc.freeze()

    serve_api(app, stop, host=settings.api_host, port=settings.api_port, log_level="warning",
              log_config=None, timeout_graceful_shutdown=5,  # log_config: ours (farmtel.logs)
              proxy_headers=False)  # the app trusts FARMTEL_TRUSTED_PROXIES alone (api.app)


def _metrics(stack: ExitStack, settings: Settings, *collectors: Collector) -> CollectorRegistry:
    """This process's metrics registry with ``collectors``, on FARMTEL_METRICS_PORT if set."""
    from farmtel.metrics import serve_metrics

    return serve_metrics(stack, settings, *collectors)


def _store(stack: ExitStack, settings: Settings) -> TelemetryStore:
    """The telemetry store, closed by ``stack``."""
    from farmtel.runtime import open_telemetry

    store = open_telemetry(settings)
    stack.callback(store.close)
    return store


def _directory(meta: Metadata) -> DeviceDirectory:
    """The device directory, loaded."""
    from devices.directory import DeviceDirectory

    directory = DeviceDirectory(meta.sessions)
    directory.reload()
    return directory


def _alert_service(stack: ExitStack, settings: Settings, meta: Metadata, store: TelemetryStore,
                   directory: DeviceDirectory) -> AlertService:
    """The started alert service; ``stack`` stops it, then closes its notifiers."""
    from farmtel.runtime import build_alert_service

    alerts, close_notifiers = build_alert_service(settings, meta, store, directory)
    stack.callback(close_notifiers)
    return _started(stack, alerts)


def _scheduler(stack: ExitStack, settings: Settings, meta: Metadata, store: TelemetryStore,
               alerts: AlertService, *, wait_on_stop: bool) -> None:
    """The started analytics scheduler, shut down by ``stack``."""
    from analytics.scheduling.scheduler import build_scheduler

    scheduler = build_scheduler(meta.sessions, store, alerts=alerts,
                                field_water_interval_s=settings.field_water_interval_s,
                                tick_interval_s=settings.alert_tick_interval_s)
    scheduler.start()
    stack.callback(scheduler.shutdown, wait=wait_on_stop)


def cmd_up(settings: Settings, args: argparse.Namespace) -> None:
    """Everything in one process tree: broker (embedded unless configured), ingest, API,
    scheduler, and optionally a simulated fleet."""
    with running("farmtel up") as (stop, stack):
        from analytics.alerts.prometheus import AlertCollector
        from devices.broker.embedded import EmbeddedBroker
        from farmtel.runtime import build_api, build_ingest, open_metadata, service_accounts
        from ingest.prometheus import IngestCollector
        meta = open_metadata(settings)
        broker: EmbeddedBroker | None = None
        if settings.uses_embedded_broker:
            from devices.broker.embedded_auth import RegistryBrokerAccess

            settings = _with_service_accounts(settings)  # ingest always logs in
            access = RegistryBrokerAccess(
                meta.sessions, service_accounts(settings),
                allow_anonymous=settings.embedded_broker_anonymous,
                reserved_client_ids=(settings.mqtt_client_id, f"{settings.mqtt_client_id}-alerts",
                                     settings.alert_feed_client_id))
            broker = _started(stack, EmbeddedBroker(
                settings.embedded_broker_host, settings.mqtt_port, access=access,
                tls_port=settings.embedded_broker_tls_port,
                tls_cert_file=settings.embedded_broker_tls_cert_file,
                tls_key_file=settings.embedded_broker_tls_key_file,
                max_queued_messages=settings.embedded_broker_max_queued_messages,
                max_queued_bytes=settings.embedded_broker_max_queued_bytes))
        store = _store(stack, settings)
        if args.simulate:
            from simulators.fleet import ensure_fleet

            ensure_fleet(meta.sessions, args.simulate, seed=args.seed)
        directory = _directory(meta)
        alerts = _alert_service(stack, settings, meta, store, directory)
        worker = build_ingest(settings, meta, store, directory,
                              on_durable=alerts.submit_readings)
        stack.callback(lambda: _log_ingest_totals(worker.metrics))  # once the worker stopped
        _started(stack, worker)
        stack.callback(worker.wait_idle)  # runs after the simulator stopped
        if broker is not None:  # before ingest drains: close to devices, deliver what was acked
            stack.callback(broker.close_to_devices, keep_users=(settings.mqtt_username or "",))
        if args.scenario == "summer-drought" and args.simulate:
            from simulators.scenario import run_summer_drought

            run_summer_drought(meta, store, alerts, devices=args.simulate, seed=args.seed)
        _scheduler(stack, settings, meta, store, alerts, wait_on_stop=False)
        if args.simulate:
            from simulators.runner import FleetRunner

            _started(stack, FleetRunner.from_registry(
                meta.sessions, _as_simulator(settings), count=args.simulate, seed=args.seed,
                speed=args.speed))
        collectors: list[Collector] = [IngestCollector(worker, "store"), AlertCollector(alerts)]
        if broker is not None:
            from devices.broker.prometheus import BrokerCollector

            collectors.append(BrokerCollector(broker))
        metrics = _metrics(stack, settings, *collectors)
        app = build_api(meta, store, directory=directory, worker=worker, alerts=alerts,
                        metrics=metrics if settings.api_metrics else False, settings=settings)
        log.info("farmtel up: API on http://%s:%d/docs", settings.api_host, settings.api_port)
        _serve_api(app, settings, stop)


def _log_ingest_totals(metrics: dict[str, Any]) -> None:
    log.info("farmtel up: ingest drained; %d messages received, %d acknowledged, %d readings stored, "
             "%d spooled batches", metrics["messages_received"], metrics["messages_acked"],
             metrics["readings_stored"], metrics["batches_spooled"])


def cmd_ingest(settings: Settings, _args: argparse.Namespace) -> None:
    """One ingest worker (run N of them with FARMTEL_MQTT_SHARED_GROUP set to scale out),
    evaluating streaming alert rules on what it stores unless FARMTEL_INGEST_ALERTS=false."""
    with running("farmtel ingest") as (stop, stack):
        from analytics.alerts.prometheus import AlertCollector
        from farmtel.runtime import build_ingest, open_metadata
        from ingest.prometheus import IngestCollector
        meta = open_metadata(settings, upgrade=False)
        store = _store(stack, settings)
        directory = _directory(meta)
        alerts = None
        if settings.ingest_alerts:
            alerts = _alert_service(stack, settings, meta, store, directory)
        worker = _started(stack, build_ingest(
            settings, meta, store, directory,
            on_durable=alerts.submit_readings if alerts is not None else None))
        _metrics(stack, settings, IngestCollector(worker, "store"),
                 *([AlertCollector(alerts)] if alerts is not None else []))
        stop.wait()


def cmd_alerts(settings: Settings, _args: argparse.Namespace) -> None:
    """Streaming alert rules as their own telemetry consumer (with FARMTEL_INGEST_ALERTS=false):
    the ingest worker with the alert engine as its sink."""
    with running("farmtel alerts") as (stop, stack):
        from analytics.alerts.prometheus import AlertCollector
        from farmtel.runtime import build_alert_feed, open_metadata
        from ingest.prometheus import IngestCollector
        meta = open_metadata(settings, upgrade=False)
        store = _store(stack, settings)
        directory = _directory(meta)
        alerts = _alert_service(stack, settings, meta, store, directory)
        feed = _started(stack, build_alert_feed(settings, directory, alerts.submit_readings))
        _metrics(stack, settings, IngestCollector(feed, "alerts"), AlertCollector(alerts))
        stop.wait()


def cmd_api(settings: Settings, _args: argparse.Namespace) -> None:
    """The HTTP API alone."""
    with running("farmtel api") as (stop, stack):
        from farmtel.runtime import build_api, open_metadata
        meta = open_metadata(settings, upgrade=False)
        _serve_api(build_api(meta, _store(stack, settings), metrics=settings.api_metrics,
                             settings=settings), settings, stop)


def cmd_scheduler(settings: Settings, _args: argparse.Namespace) -> None:
    """The analytics scheduler alone: field water, no-data and depletion alerts."""
    with running("farmtel scheduler") as (stop, stack):
        from analytics.alerts.prometheus import AlertCollector
        from farmtel.runtime import open_metadata
        meta = open_metadata(settings, upgrade=False)
        store = _store(stack, settings)
        alerts = _alert_service(stack, settings, meta, store, _directory(meta))
        _scheduler(stack, settings, meta, store, alerts, wait_on_stop=True)
        _metrics(stack, settings, AlertCollector(alerts))
        stop.wait()


def cmd_simulate(settings: Settings, args: argparse.Namespace) -> None:
    """Register (or reuse) a demo fleet, or with --city the city-scale fleet, and publish its
    telemetry over MQTT."""
    if args.city:
        _simulate_city(settings, args)
        return
    from farmtel.runtime import open_metadata
    from simulators.fleet import ensure_fleet
    from simulators.runner import FleetRunner

    meta = open_metadata(settings)
    ensure_fleet(meta.sessions, args.devices, seed=args.seed)
    runner = FleetRunner.from_registry(meta.sessions, _as_simulator(settings), count=args.devices,
                                       seed=args.seed, speed=args.speed,
                                       duration_s=args.duration)
    with running("farmtel simulate") as (stop, stack):
        _started(stack, runner)
        stop.wait(args.duration or None)  # the runner ends by itself after args.duration
    print(runner.summary(), flush=True)


def _simulate_city(settings: Settings, args: argparse.Namespace) -> None:
    """The city fleet (simulators.city): bulk registration, then one process publishing it
    through ``--connections`` connections of the simulator's service account."""
    import json
    import time

    from devices.mqtt_publisher import ReliablePublisher
    from farmtel.runtime import open_metadata
    from simulators.city import CitySimulator, OutageSpec
    from simulators.city_fleet import city_layout, register_city
    from simulators.city_runner import CityRunner, start_ms_for, summary

    timings: dict[str, float] = {"process_start_wall": time.time()}
    outage = None
    if args.outage_gateways:
        outage = OutageSpec(args.outage_gateways, args.outage_minutes, args.outage_start)
    meta = open_metadata(settings)
    t0 = time.perf_counter()
    layout = city_layout(args.city, seed=args.seed)
    timings["layout_s"] = time.perf_counter() - t0
    reg = register_city(meta.engine, layout)
    log.info("city fleet: %d devices registered in %.1f s (%d already there)",
             reg.devices_added, reg.seconds, reg.devices_present)
    sim_settings = _as_simulator(settings)
    now_s = time.time()
    t0 = time.perf_counter()
    sim = CitySimulator(layout, start_ms=start_ms_for(args.speed, args.duration, int(now_s * 1000)),
                        seed=args.seed, outage=outage, max_records=args.batch_records)
    timings["init_s"] = time.perf_counter() - t0
    publishers = [
        ReliablePublisher(sim_settings.broker_host, sim_settings.mqtt_port,
                          client_id=f"farmtel-city-{args.seed}-{k}",
                          username=sim_settings.mqtt_username,
                          password=sim_settings.mqtt_password, max_inflight=200,
                          publish_timeout=120.0)
        for k in range(args.connections)]
    runner = CityRunner(sim, publishers, speed=args.speed, duration_s=args.duration,
                        wall_origin=now_s)
    with running("farmtel simulate") as (stop, stack):
        _started(stack, runner)
        while runner.running and not stop.wait(0.5):
            pass
    stats = runner.stats()
    stats["timings"] |= timings
    stats["registration"] = {"devices_added": reg.devices_added, "sites_added": reg.sites_added,
                             "farms_added": reg.farms_added,
                             "devices_present": reg.devices_present, "seconds": reg.seconds}
    stats["error"] = None if runner.error is None else repr(runner.error)
    if args.stats_file:
        args.stats_file.write_text(json.dumps(stats, indent=1))
    print(summary(stats), flush=True)
    if runner.error is not None:
        raise SystemExit(f"city simulation failed: {runner.error!r}")


def _with_service_accounts(settings: Settings) -> Settings:
    """For the embedded broker: in-process service accounts when unset (also in anonymous demo
    mode: ingest's persistent session then belongs to a login no other client can use)."""
    import secrets

    update: dict[str, Any] = {}
    if not (settings.mqtt_username and settings.mqtt_password):
        update |= {"mqtt_username": "farmtel-ingest", "mqtt_password": secrets.token_urlsafe(24)}
    if not (settings.sim_mqtt_username and settings.sim_mqtt_password):
        update |= {"sim_mqtt_username": "farmtel-sim",
                   "sim_mqtt_password": secrets.token_urlsafe(24)}
    return settings.model_copy(update=update)


def _as_simulator(settings: Settings) -> Settings:
    """Settings whose MQTT login is the simulator's service account (not ingest's)."""
    return settings.model_copy(update={"mqtt_username": settings.sim_mqtt_username,
                                       "mqtt_password": settings.sim_mqtt_password})


def cmd_mosquitto_sync(settings: Settings, args: argparse.Namespace) -> None:
    """Write Mosquitto's password and ACL files from the registry; SIGHUP it when they change."""
    from devices.broker.mosquitto import sync_mosquitto
    from devices.registry import current_version
    from farmtel.runtime import open_metadata, service_accounts

    pw_file, acl_file = settings.mosquitto_password_file, settings.mosquitto_acl_file
    if pw_file is None or acl_file is None:
        raise SystemExit("set FARMTEL_MOSQUITTO_PASSWORD_FILE and FARMTEL_MOSQUITTO_ACL_FILE")
    meta = open_metadata(settings, upgrade=False)
    accounts = service_accounts(settings)

    def sync() -> int:
        version, changed = sync_mosquitto(meta.sessions, pw_file, acl_file, accounts,
                                          pid_file=settings.mosquitto_pid_file, pid=args.pid,
                                          mode=int(args.mode, 8))
        log.info("mosquitto-sync: registry version %d, files %s", version,
                 "updated" if changed else "unchanged")
        return version

    version = sync()
    if not args.watch:
        return
    with running("farmtel mosquitto-sync") as (stop, _stack):
        while not stop.wait(args.watch):
            with meta.sessions() as session:
                changed = current_version(session) != version
            if changed:
                version = sync()


def parser() -> argparse.ArgumentParser:
    """The argument parser (also used by tests to check docker-compose commands)."""
    p = argparse.ArgumentParser(prog="farmtel", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help=cmd_up.__doc__)
    up.add_argument("--simulate", type=int, default=0, metavar="N",
                    help="also run a simulated fleet of N devices")
    up.add_argument("--seed", type=int, default=42)
    up.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second")
    up.add_argument("--scenario", choices=["summer-drought"], default=None,
                    help="first write 14 days of a simulated July drought (history, advice, "
                         "alerts) for the simulated fleet")
    sub.add_parser("ingest", help=cmd_ingest.__doc__)
    sub.add_parser("alerts", help=cmd_alerts.__doc__)
    sub.add_parser("api", help=cmd_api.__doc__)
    sub.add_parser("scheduler", help=cmd_scheduler.__doc__)
    sim = sub.add_parser("simulate", help=cmd_simulate.__doc__)
    sim.add_argument("--devices", type=int, default=300)
    sim.add_argument("--seed", type=int, default=42)
    sim.add_argument("--speed", type=float, default=1.0,
                     help="simulated seconds per real second (>1 for backfills)")
    sim.add_argument("--duration", type=float, default=0.0,
                     help="stop after this many real seconds (0 = until Ctrl-C)")
    city = sim.add_argument_group(
        "city scale", "--city N simulates the city fleet (simulators/city.py) instead of the "
        "demo fleet: registered in bulk, published through a few connections of the simulator "
        "account; with --speed > 1 and --duration the run starts in the past and ends now")
    city.add_argument("--city", type=int, default=0, metavar="N",
                      help="city fleet of N sensor devices (e.g. 200000); replaces --devices")
    city.add_argument("--outage-gateways", type=float, default=0.0, metavar="FRACTION",
                      help="burst mode: this share of the gateways goes silent, buffers, then "
                           "flushes its backlog (0 = no outage)")
    city.add_argument("--outage-minutes", type=float, default=90.0, metavar="M",
                      help="outage length [simulated min] (default 90: the backlog is LATE)")
    city.add_argument("--outage-start", type=float, default=60.0, metavar="SECONDS",
                      help="outage start after the simulation start [simulated s]; negative: "
                           "already under way (the simulator warms up its backlog)")
    city.add_argument("--connections", type=int, default=2,
                      help="MQTT connections publishing on behalf of the fleet")
    city.add_argument("--batch-records", type=int, default=500,
                      help="at most this many records per gateway message")
    city.add_argument("--stats-file", type=Path, default=None,
                      help="write the run's counters, rates and timings as JSON here")
    add_backup_commands(sub)
    add_db_commands(sub)
    sync = sub.add_parser("mosquitto-sync", help=cmd_mosquitto_sync.__doc__)
    sync.add_argument("--watch", type=float, default=0.0, metavar="SECONDS",
                      help="keep running, re-syncing when the registry changes")
    sync.add_argument("--pid", type=int, default=None,
                      help="Mosquitto's pid to SIGHUP (else FARMTEL_MOSQUITTO_PID_FILE)")
    sync.add_argument("--mode", default="640", help="file mode of the written files (octal)")
    return p


_HANDLERS: dict[str, Callable[[Settings, argparse.Namespace], None]] = {
    "up": cmd_up, "ingest": cmd_ingest, "alerts": cmd_alerts, "api": cmd_api, "scheduler": cmd_scheduler,
    "simulate": cmd_simulate, "mosquitto-sync": cmd_mosquitto_sync, "backup": cmd_backup,
    "restore": cmd_restore,
    "db": cmd_db,
}


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``farmtel`` command."""
    args = parser().parse_args(argv)
    settings = Settings()
    configure_logging(settings.log_format, verbose=args.verbose)
    with schema_refusals(args.command):
        _HANDLERS[args.command](settings, args)


if __name__ == "__main__":
    main()
