"""The local SQLite mirror: schema, reads, and the fleet's maintained group counts."""

from ota_desktop.model import DeviceGroup
from ota_desktop.store.store import DeviceRow, Store

__all__ = ["DeviceGroup", "DeviceRow", "Store"]
