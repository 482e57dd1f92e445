"""A field's head–tail figures built directly (the balance's net water given), for the η tests."""

from __future__ import annotations

from analytics.water.headtail import FieldInput, FieldNet


def metered_field(site: str, meter: str, inlet_m3: float, net_m3: float) -> FieldInput:
    """Field ``site`` fed through ``meter`` (``inlet_m3``), of which the balance kept ``net_m3``."""
    net = FieldNet(site_id=site, inlet_m3=inlet_m3, balance_net_m3=net_m3, probe_net_m3=None,
                   method="balance", events=1, events_with_probes=0)
    return FieldInput(site_id=site, meter_m3={meter: inlet_m3}, all_meters_m3=inlet_m3, net=net)
