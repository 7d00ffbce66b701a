"""A seeded simulated store that publishes on the MQTT contract like real devices and writes ground truth."""

from smartstore.devices.sim.runner import Simulator, SimulatorError
from smartstore.devices.sim.settings import Outage, SimSettings

__all__ = ["Outage", "SimSettings", "Simulator", "SimulatorError"]
