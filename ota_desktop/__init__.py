"""OTA Desktop: a desktop release manager for over-the-air firmware updates of device fleets."""

__version__ = "0.1.0"
NAME = "OTA Desktop"
