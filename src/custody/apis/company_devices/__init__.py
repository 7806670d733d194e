"""Company devices API (seed 002, fleet.co-compatible) at `/platform/v1`."""
