"""Persistence: tables, engines and transactions."""
