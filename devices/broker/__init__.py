"""The MQTT broker side of the device contract: who may connect, publish and subscribe.

* :mod:`devices.broker.mosquitto` - the permission model, and Mosquitto's password/ACL files
  generated from the registry;
* :mod:`devices.broker.embedded` - the in-process amqtt broker of ``farmtel up``;
* :mod:`devices.broker.embedded_auth` - amqtt plugins enforcing the same permission model.
"""
