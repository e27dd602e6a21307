"""How numbers and versions read in the window (pure functions, testable without Qt)."""

from __future__ import annotations


def abbreviate(count: int) -> str:
    """Device counts as the matrix shows them: 999, 5.9K, 21K, 738K, 1.2M."""
    if count < 1000:
        return str(count)
    for unit, size in (("M", 1_000_000), ("K", 1_000)):
        if count >= size:
            value = count / size
            if value < 10:
                text = f"{int(value * 10) / 10:.1f}".rstrip("0").rstrip(".")
            else:
                text = str(int(value))
            return f"{text}{unit}"
    return str(count)


def exact(count: int) -> str:
    return f"{count:,}"


def devices(count: int) -> str:
    return f"{count:,} device{'s' if count != 1 else ''}"
