"""Command-line interface: one module per noun, loaded lazily."""
