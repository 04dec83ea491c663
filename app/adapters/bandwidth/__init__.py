"""The network side of the bandwidth preflight (see app.core.bandwidth for the decision)."""

from app.adapters.bandwidth.probe import HttpBandwidthProbe, HttpProbeLink

__all__ = ["HttpBandwidthProbe", "HttpProbeLink"]
