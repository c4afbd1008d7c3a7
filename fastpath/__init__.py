"""fastpath: Linux kernel performance monitoring."""

__version__ = "0.1.0"
