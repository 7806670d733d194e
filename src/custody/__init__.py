"""Custody: one fleet database served through three vendor-compatible HTTP APIs."""
