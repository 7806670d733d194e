"""Device management API (seed 000, Primo-compatible) at `/` (so `PATCH /devices/{deviceId}`)."""
