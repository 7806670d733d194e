"""create_app(settings): one ASGI app that routes each vendor's base path to its API view."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from anyio import to_thread

from custody.apis.company_devices.app import create_company_devices_app
from custody.apis.company_devices.fast import FastList
from custody.apis.device_management.app import create_device_management_app
from custody.apis.ownership.app import create_ownership_app
from custody.config import Settings
from custody.db.engine import POSTGRES_THREADS, Database
from custody.ratelimit import RateLimiter

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[..., Awaitable[None]]  # Litestar's own signature is narrower than the generic ASGI one


class Custody:
    """Dispatch by path prefix (longest first) to the API views, which all share one database."""

    def __init__(
        self,
        db: Database,
        mounts: list[tuple[str, ASGIApp]],
        fallback: ASGIApp,
    ) -> None:
        self.db = db
        self.mounts = sorted(mounts, key=lambda m: len(m[0]), reverse=True)
        self.fallback = fallback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        path: str = scope.get("path", "")
        for prefix, app in self.mounts:
            if path == prefix or path.startswith(prefix + "/"):
                await app(scope, receive, send)
                return
        await self.fallback(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if self.db.dialect == "postgresql":  # see POSTGRES_THREADS
                    to_thread.current_default_thread_limiter().total_tokens = POSTGRES_THREADS
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.db.dispose()
                await send({"type": "lifespan.shutdown.complete"})
                return


def create_app(settings: Settings | None = None, db: Database | None = None) -> Custody:
    settings = settings or Settings.from_env()
    db = db or Database(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
    company_devices = FastList(
        create_company_devices_app(db, settings.company_devices_base), db, settings.company_devices_base
    )
    # One limiter per process (it remembers the window it last pruned): uvicorn's workers each
    # build their own app.
    limiter = RateLimiter(db, settings.ownership_rate_limit, window=60)
    ownerships = create_ownership_app(db, settings.ownership_base, limiter)
    device_management = create_device_management_app(db, settings.device_management_base)
    mounts: list[tuple[str, ASGIApp]] = [
        (settings.company_devices_base, company_devices),
        (settings.ownership_base, ownerships),
    ]
    if settings.device_management_base:
        mounts.append((settings.device_management_base, device_management))
    # Served at the root by default, the device management API also answers every other path (404).
    return Custody(db, mounts, fallback=device_management)
