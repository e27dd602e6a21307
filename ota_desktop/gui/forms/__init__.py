"""Compiled Designer forms (generated; do not edit)."""
