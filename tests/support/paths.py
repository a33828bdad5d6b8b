"""Where the repository and its shipped example config are."""

from __future__ import annotations

from pathlib import Path

__all__ = ["EXAMPLE_CONFIG", "ROOT"]

ROOT = Path(__file__).resolve().parent.parent.parent
EXAMPLE_CONFIG = ROOT / "config" / "autoconfig.toml"
