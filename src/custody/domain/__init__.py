"""The one fleet model: every business rule lives here, once, shared by the three API views."""
