"""Devices under test: one module and one YAML file per target (see harness.target)."""
