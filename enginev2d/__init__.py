"""enginev2d: the v2 game-creation engine as a standalone PostgreSQL-driven daemon."""

__version__ = "0.1.0"
