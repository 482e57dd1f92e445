"""``farmtel`` command line: up, ingest, api, scheduler, simulate."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Callable, Sequence
from typing import Any

from farmtel.settings import Settings

log = logging.getLogger("farmtel")

COMMANDS = ("up", "ingest", "api", "scheduler", "simulate")


def _wait_for_signal() -> None:
    """Block until SIGINT or SIGTERM."""
    stop = threading.Event()

    def handler(_sig: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    stop.wait()


def _serve_api(app: Any, settings: Settings) -> None:
    import uvicorn

    uvicorn.Server(uvicorn.Config(app, host=settings.api_host, port=settings.api_port,
                                  log_level="warning")).run()


def cmd_up(settings: Settings, args: argparse.Namespace) -> None:
    """Everything in one process tree: broker (embedded unless configured), ingest, API,
    scheduler, and optionally a simulated fleet."""
    from analytics.jobs import build_scheduler
    from devices.directory import DeviceDirectory
    from farmtel.broker import EmbeddedBroker
    from farmtel.runtime import build_api, build_ingest, open_metadata, open_telemetry

    stops: list[Callable[[], None]] = []
    worker = None
    try:
        if settings.uses_embedded_broker:
            broker = EmbeddedBroker(settings.embedded_broker_host, settings.mqtt_port)
            broker.start()
            stops.append(broker.stop)
        meta = open_metadata(settings)
        store = open_telemetry(settings)
        stops.append(store.close)
        directory = DeviceDirectory(meta.sessions)
        if args.simulate:
            from simulators.fleet import ensure_fleet

            ensure_fleet(meta.sessions, args.simulate, seed=args.seed)
        directory.reload()
        worker = build_ingest(settings, meta, store, directory)
        worker.start()
        stops.append(worker.stop)

        def drain_before_stop() -> None:  # runs after the simulator stopped
            if worker is not None:
                worker.wait_idle()

        stops.append(drain_before_stop)
        scheduler = build_scheduler(meta.sessions, store)
        scheduler.start()
        stops.append(lambda: scheduler.shutdown(wait=False))
        if args.simulate:
            from simulators.fleet import FleetRunner

            runner = FleetRunner.from_registry(meta.sessions, settings, count=args.simulate,
                                               seed=args.seed, speed=args.speed)
            runner.start()
            stops.append(runner.stop)
        app = build_api(meta, store, directory=directory, worker=worker)
        log.info("farmtel up: API on http://%s:%d/docs", settings.api_host, settings.api_port)
        _serve_api(app, settings)
    finally:
        log.info("farmtel up: shutting down")
        for stop in reversed(stops):
            try:
                stop()
            except Exception:
                log.exception("shutdown step failed")
        if worker is not None:
            m = worker.metrics
            log.info("farmtel up: stopped; %d messages received, %d acknowledged, %d readings "
                     "stored, %d spooled batches", m["messages_received"], m["messages_acked"],
                     m["readings_stored"], m["batches_spooled"])


def cmd_ingest(settings: Settings, _args: argparse.Namespace) -> None:
    """One ingest worker (run N of them with FARMTEL_MQTT_SHARED_GROUP set to scale out)."""
    from devices.directory import DeviceDirectory
    from farmtel.runtime import build_ingest, open_metadata, open_telemetry

    meta = open_metadata(settings)
    store = open_telemetry(settings)
    directory = DeviceDirectory(meta.sessions)
    directory.reload()
    worker = build_ingest(settings, meta, store, directory)
    worker.start()
    try:
        _wait_for_signal()
    finally:
        worker.stop()
        store.close()


def cmd_api(settings: Settings, _args: argparse.Namespace) -> None:
    """The HTTP API alone."""
    from farmtel.runtime import build_api, open_metadata, open_telemetry

    meta = open_metadata(settings)
    store = open_telemetry(settings)
    try:
        _serve_api(build_api(meta, store), settings)
    finally:
        store.close()


def cmd_scheduler(settings: Settings, _args: argparse.Namespace) -> None:
    """The analytics scheduler alone."""
    from analytics.jobs import build_scheduler
    from farmtel.runtime import open_metadata, open_telemetry

    meta = open_metadata(settings)
    store = open_telemetry(settings)
    scheduler = build_scheduler(meta.sessions, store)
    scheduler.start()
    try:
        _wait_for_signal()
    finally:
        scheduler.shutdown()
        store.close()


def cmd_simulate(settings: Settings, args: argparse.Namespace) -> None:
    """Register (or reuse) a demo fleet and publish its telemetry over MQTT."""
    from farmtel.runtime import open_metadata
    from simulators.fleet import FleetRunner, ensure_fleet

    meta = open_metadata(settings)
    ensure_fleet(meta.sessions, args.devices, seed=args.seed)
    runner = FleetRunner.from_registry(meta.sessions, settings, count=args.devices,
                                       seed=args.seed, speed=args.speed,
                                       duration_s=args.duration)
    runner.start()
    try:
        if args.duration:
            runner.join()
        else:
            _wait_for_signal()
    finally:
        runner.stop()
    print(runner.summary(), flush=True)


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
    sub.add_parser("ingest", help=cmd_ingest.__doc__)
    sub.add_parser("api", help=cmd_api.__doc__)
    sub.add_parser("scheduler", help=cmd_scheduler.__doc__)
    sim = sub.add_parser("simulate", help=cmd_simulate.__doc__)
    sim.add_argument("--devices", type=int, default=300)
    sim.add_argument("--seed", type=int, default=42)
    sim.add_argument("--speed", type=float, default=1.0,
                     help="simulated seconds per real second (>1 for backfills)")
    sim.add_argument("--duration", type=float, default=0.0,
                     help="stop after this many real seconds (0 = until Ctrl-C)")
    return p


_HANDLERS: dict[str, Callable[[Settings, argparse.Namespace], None]] = {
    "up": cmd_up, "ingest": cmd_ingest, "api": cmd_api, "scheduler": cmd_scheduler,
    "simulate": cmd_simulate,
}


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``farmtel`` command."""
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("amqtt").setLevel(logging.WARNING)
    logging.getLogger("transitions").setLevel(logging.WARNING)
    _HANDLERS[args.command](Settings(), args)


if __name__ == "__main__":
    main()
