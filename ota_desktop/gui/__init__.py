"""The Qt window. Everything Qt lives under this package; the core never imports it."""
