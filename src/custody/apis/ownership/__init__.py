"""The device ownership API (seed 001, Insiders-compatible) at `/v1/`."""
