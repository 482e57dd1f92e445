"""Device simulators: realistic, seeded telemetry for every catalogue device type.

* :mod:`simulators.weather_driver` - the outside weather of a county (diurnal cycle, seasons,
  rain; dry spells and forced rain added by scenarios); :mod:`simulators.county_weather`
  queries the counties' drivers for a family of devices at once;
* :mod:`simulators.models` - one vectorised family per device type (N = 1 or 200,000), each
  advanced by ``step(idx, ts_ms)``; :mod:`simulators.physics` and :mod:`simulators.noise` hold
  what the families share (battery, crop coefficient, local clock; seeds and noise);
* :mod:`simulators.schedule` - when each device reports;
* :mod:`simulators.fleet` registers the demo fleet and :mod:`simulators.runner` runs it;
  :mod:`simulators.city_fleet` lays out and registers the city fleet, :mod:`simulators.city`
  simulates it and :mod:`simulators.city_runner` publishes it;
* :mod:`simulators.scenario` replays the summer drought;
* :mod:`simulators.sink` writes a fleet's records straight into a telemetry store.

Importing this package creates no threads, clients or files.
"""
