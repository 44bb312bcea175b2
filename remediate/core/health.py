"""How long a container's healthcheck takes to reach Docker's verdict (healthy or unhealthy).

A container with a healthcheck is verified once Docker calls it healthy. A working container
is healthy at its first passing probe; a broken one is unhealthy after ``retries`` failed probes
once its start period is over. Each setting comes from the container's ``Config.Healthcheck``,
else the image's, else Docker's default (30 s interval, 30 s timeout, 3 retries, no start
period). Pure: inspect data in, seconds out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_NS = 1e9
#: Docker's defaults for a healthcheck setting left at 0.
DEFAULT_INTERVAL = 30.0
DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRIES = 3
DEFAULT_START_PERIOD = 0.0


@dataclass(frozen=True)
class HealthTiming:
    """A healthcheck's timing, in seconds (retries a count)."""

    interval: float
    timeout: float
    retries: int
    start_period: float

    @property
    def verdict_within(self) -> float:
        """Seconds after start by which Docker has called the container healthy or unhealthy:
        the start period, then ``retries`` probes, each an interval apart and up to a timeout long."""
        return self.start_period + self.retries * (self.interval + self.timeout)

    def describe(self) -> str:
        """``start period 5s, 3 retries of interval 30s + timeout 30s``."""
        return (f"start period {self.start_period:g}s, {self.retries} retries of interval {self.interval:g}s"
                f" + timeout {self.timeout:g}s")


def health_timing(container: Mapping[str, Any], image: Mapping[str, Any] | None) -> HealthTiming | None:
    """The healthcheck timing of a container (inspect), or None when it has no healthcheck.

    Args:
        container: ``docker inspect`` of the container.
        image: ``docker image inspect`` of its image, or None when unknown.
    """
    own: Mapping[str, Any] = (container.get("Config") or {}).get("Healthcheck") or {}
    inherited: Mapping[str, Any] = ((image or {}).get("Config") or {}).get("Healthcheck") or {}
    test = own.get("Test") or inherited.get("Test") or []
    if not test or test[:1] == ["NONE"]:
        return None

    def setting(key: str, default: float) -> float:
        value = own.get(key) or inherited.get(key)
        return float(value) / _NS if value else default

    retries = own.get("Retries") or inherited.get("Retries") or DEFAULT_RETRIES
    return HealthTiming(interval=setting("Interval", DEFAULT_INTERVAL), timeout=setting("Timeout", DEFAULT_TIMEOUT),
                        retries=int(retries), start_period=setting("StartPeriod", DEFAULT_START_PERIOD))
