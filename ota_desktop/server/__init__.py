"""The device-facing HTTP server (Latest Release endpoint, hawkBit DDI, artifacts)."""
