"""Closed value sets, spelled exactly as the seeds spell them."""

from __future__ import annotations

DEVICE_CLIENT_STATUSES = (
    "ARCHIVED",
    "PENDING_VALIDATION",
    "IN_PREPARATION",
    "DELIVERED",
    "SHIPPED",
    "AVAILABLE",
    "IN_SERVICE",
    "IN_MAINTENANCE",
    "OUT_OF_SERVICE",
)
KEYBOARD_LAYOUTS = (
    "FRENCH_AZERTY",
    "SPANISH_QWERTY",
    "ITALIAN_QWERTY",
    "INTERNATIONAL_ENGLISH_QWERTY",
    "GERMAN_QWERTZ",
    "PORTUGUESE_QWERTY",
    "ENGLISH_QWERTY",
    "SWISS_QWERTZ",
    "AMERICAN_ENGLISH_QWERTY",
    "CANADIAN_ENGLISH_QWERTY",
    "DUTCH_QWERTY",
)
MDM_STATUSES = (
    "SUBSCRIBED",
    "DOWNLOADED",
    "IDENTIFIED",
    "ENROLLMENT_IN_PROGRESS",
    "ENROLLED",
    "UNENROLLED",
    "DEVICE_WIPE_PENDING",
)
# Enrollment states in which the MDM manages the device (seed 000's `isEnrolled`); a pending wipe
# still goes through the MDM.
ENROLLED_MDM_STATUSES = ("ENROLLED", "DEVICE_WIPE_PENDING")
ORDER_CLIENT_STATUSES = (
    "RECEIVED",
    "BEING_PROCESSED",
    "FINANCING_REQUEST",
    "DOC_REQUIRED",
    "SIGNING",
    "PROCESSING",
    "SHIPPED",
    "RECEPTION_TO_CONFIRM",
    "ONGOING_ORDER",
    "PENDING_DECISION",
    "EQUIPMENT_TO_SEND",
    "ARCHIVED",
    "FAILED",
    "UNKNOWN",
)
PARCEL_TYPES = ("RETURN", "INTER_OFFICE_DELIVERY")
PARCEL_STATUSES = ("WAITING", "SCHEDULED", "SHIPPED", "RECEIVED", "FAILED")

# Seed 000 (the MDM's view) knows three device kinds and these platforms.
MANAGED_TYPES = ("LAPTOP", "TABLET", "SMARTPHONE")
PLATFORMS = ("ANDROID", "IOS", "MACOS", "WINDOWS", "LINUX", "CHROME_OS", "IPADOS", "UNKNOWN")
LOCK_WIPE_STATUSES = ("LOCKED", "LOCKING", "UNLOCKING", "WIPED", "WIPING")
EDR_PROVIDERS = ("SENTINELONE", "THREATDOWN")

PERSON_ROLES = ("employee", "manager", "admin")
KEY_SCOPES = ("read", "write")

# Keys of `characteristics` in seed 002, in the seed's order.
CHARACTERISTIC_KEYS = (
    "screen_size",
    "graphic",
    "processor",
    "ram",
    "storage",
    "model_year",
    "connectivity",
    "keyboard_layout",
    "resolution",
    "has_microphone",
    "has_webcam",
    "noise_cancellation",
    "compliance",
    "connection_type",
    "has_stool",
    "has_video_package",
    "has_screen",
    "has_premium_tablet",
    "color",
    "seats_number",
    "assembly",
    "os_platform",
)
