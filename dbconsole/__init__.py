"""dbconsole: compare and sync local and server PostgreSQL from the terminal."""

__version__ = "0.1.0"
