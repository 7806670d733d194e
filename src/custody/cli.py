"""`custody`: serve the APIs and administer the fleet. Every command works on a database that does
not exist yet (it is created and upgraded first) and shares it through `CUSTODY_DATABASE_URL`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from custody.config import Settings
from custody.db.engine import Database
from custody.domain.errors import DomainError
from custody.domain.tenancy import Caller, Tenant

app = typer.Typer(no_args_is_help=True, help="Custody: a self-hosted device-fleet server.")
company_app = typer.Typer(no_args_is_help=True, help="Companies (tenants).")
person_app = typer.Typer(no_args_is_help=True, help="People of a company.")
key_app = typer.Typer(no_args_is_help=True, help="API keys.")
db_app = typer.Typer(no_args_is_help=True, help="The database.")
device_app = typer.Typer(no_args_is_help=True, help="Devices' own credentials (device tokens for posting reports).")
app.add_typer(company_app, name="company")
app.add_typer(person_app, name="person")
app.add_typer(key_app, name="key")
app.add_typer(db_app, name="db")
app.add_typer(device_app, name="device")

console = Console(stderr=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def open_db() -> Database:
    settings = Settings.from_env()
    db = Database(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
    db.upgrade()
    return db


def admin(company_id: int) -> Caller:
    """The CLI acts as a company admin with write rights."""
    return Caller(company_id=company_id, person_id=None, can_write=True)


def emit(result: dict[str, Any], as_json: bool, text: str) -> None:
    typer.echo(json.dumps(result) if as_json else text)


def fail(error: DomainError) -> None:
    console.print(f"[red]error:[/red] {error.message}")
    raise typer.Exit(1)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Serve the three APIs."""
    import uvicorn

    open_db().dispose()  # migrate once, before any worker starts
    settings = Settings.from_env()
    console.print(f"Custody on http://{host}:{port}")
    console.print(f"  device management API  {settings.device_management_base}/devices")
    console.print(f"  device ownership API   {settings.ownership_base}/device-ownerships/")
    console.print(f"  company devices API    {settings.company_devices_base}/devices")
    uvicorn.run(
        "custody.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        log_level="warning",
    )


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create the database if needed and apply every migration."""
    open_db().dispose()
    console.print("database is up to date")


@company_app.command("create")
def company_create(name: str, as_json: JsonFlag = False) -> None:
    """Create a company."""
    from custody.domain.people import create_company

    db = open_db()
    try:
        with db.write() as session:
            company = create_company(session, name)
    except DomainError as error:
        fail(error)
    emit({"id": company.id, "name": company.name}, as_json, f"company {company.id}: {company.name}")


@person_app.command("create")
def person_create(
    company: Annotated[int, typer.Option("--company", help="Company id.")],
    first_name: Annotated[str, typer.Option("--first-name")],
    last_name: Annotated[str, typer.Option("--last-name")],
    email: Annotated[str, typer.Option("--email")],
    teams: Annotated[list[str] | None, typer.Option("--team", help="A team; repeat for several.")] = None,
    role: Annotated[str, typer.Option("--role", help="employee | manager | admin")] = "employee",
    as_json: JsonFlag = False,
) -> None:
    """Create a person in a company."""
    from custody.domain.people import create_person

    db = open_db()
    try:
        with db.write() as session:
            _require_company(session, company)
            person = create_person(
                Tenant(session, admin(company)),
                first_name=first_name,
                last_name=last_name,
                email=email,
                teams=teams or (),
                role=role,
            )
    except DomainError as error:
        fail(error)
    result = {
        "id": person.id,
        "hex_id": person.hex_id,
        "company_id": person.company_id,
        "first_name": person.first_name,
        "last_name": person.last_name,
        "email": person.email,
        "teams": person.teams,
        "role": person.role,
    }
    emit(result, as_json, f"person {person.id} ({person.hex_id}): {person.first_name} {person.last_name}")


@key_app.command("create")
def key_create(
    company: Annotated[int, typer.Option("--company", help="Company id.")],
    person: Annotated[int | None, typer.Option("--person", help="Bind the key to this person.")] = None,
    read_only: Annotated[bool, typer.Option("--read-only", help="A read key (GET only).")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Create an API key. The token is shown once; only its hash is stored."""
    from custody.domain.keys import create_key

    db = open_db()
    try:
        with db.write() as session:
            _require_company(session, company)
            key, token = create_key(Tenant(session, admin(company)), person_id=person, read_only=read_only)
    except DomainError as error:
        fail(error)
    result = {
        "id": key.id,
        "token": token,
        "prefix": key.prefix,
        "company_id": company,
        "person_id": person,
        "scope": key.scope,
    }
    emit(result, as_json, token)


@key_app.command("revoke")
def key_revoke(token_or_prefix: str, as_json: JsonFlag = False) -> None:
    """Revoke a key by its token or its public prefix (cst_xxxxxxxx)."""
    from custody.domain.keys import revoke_key

    db = open_db()
    try:
        with db.write() as session:
            key = revoke_key(session, token_or_prefix)
    except DomainError as error:
        fail(error)
    emit({"id": key.id, "prefix": key.prefix, "revoked": True}, as_json, f"revoked {key.prefix}")


@device_app.command("token")
def device_token(
    device_id: Annotated[
        int, typer.Argument(help="The device's integer id: its `id` in the company devices API (GET /devices).")
    ],
    as_json: JsonFlag = False,
) -> None:
    """Create a device token: the device posts its reports with it (POST /v1/devices/ID/reports/).
    The token is shown once; only its hash is stored. A device may have several live tokens."""
    from custody.domain.device_tokens import create_device_token

    db = open_db()
    try:
        with db.write() as session:
            company = _device_company(session, device_id)
            token_row, token = create_device_token(Tenant(session, admin(company)), device_id)
    except DomainError as error:
        fail(error)
    result = {
        "id": token_row.id,
        "token": token,
        "prefix": token_row.prefix,
        "device_id": device_id,
        "company_id": company,
    }
    emit(result, as_json, token)


@device_app.command("revoke-token")
def device_revoke_token(token_or_prefix: str, as_json: JsonFlag = False) -> None:
    """Revoke a device token by its token or its public prefix (cdt_xxxxxxxx)."""
    from custody.domain.device_tokens import revoke_device_token

    db = open_db()
    try:
        with db.write() as session:
            token_row = revoke_device_token(session, token_or_prefix)
    except DomainError as error:
        fail(error)
    result = {"id": token_row.id, "prefix": token_row.prefix, "device_id": token_row.device_id, "revoked": True}
    emit(result, as_json, f"revoked {token_row.prefix}")


class _ImportProgress:
    """The import's two phases on stderr: the file read (bytes), then the devices written."""

    def __init__(self, progress: Progress, size: int) -> None:
        self._progress = progress
        self._reading = progress.add_task("reading", total=size)
        self._writing = progress.add_task("writing", total=None, start=False)

    def lines(self, stream: BinaryIO) -> Iterator[tuple[int, bytes]]:
        read = 0
        for number, raw in enumerate(stream, 1):
            read += len(raw)
            if number % 10_000 == 0:  # a redraw per line would cost more than the line
                self._progress.update(self._reading, completed=read)
            yield number, raw
        self._progress.update(self._reading, completed=read)

    def written(self, done: int, total: int) -> None:
        self._progress.start_task(self._writing)
        self._progress.update(self._writing, completed=done, total=total)


@app.command("import")
def import_file(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="JSON lines: one device item per line.")
    ],
    company: Annotated[int, typer.Option("--company", help="Company id.")],
    as_json: JsonFlag = False,
) -> None:
    """Import devices (company devices API items, one JSON object per line), upserting by serial
    number. One transaction: a bad line is reported and nothing of the file is written."""
    from custody.domain.imports import LineError, import_devices

    db = open_db()
    started = time.perf_counter()
    columns = (TextColumn("{task.description:>8}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn())
    try:
        with (
            Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar,
            file.open("rb") as stream,
            db.bulk_write() as session,
        ):
            _require_company(session, company)
            progress = _ImportProgress(bar, file.stat().st_size)
            result = import_devices(
                Tenant(session, admin(company)), progress.lines(stream), on_progress=progress.written
            )
    except LineError as error:
        console.print(error.message, style="red", markup=False, highlight=False)
        if as_json:
            typer.echo(json.dumps({"error": error.message, "line": error.line}))
        raise typer.Exit(1) from None
    except DomainError as error:
        fail(error)
    db.analyze()  # the import may have changed the tables' shape a lot
    seconds = time.perf_counter() - started
    devices = result.created + result.updated
    rate = devices / seconds if seconds > 0 else 0.0
    summary = {
        "company_id": company,
        "created": result.created,
        "updated": result.updated,
        "orders_created": result.orders_created,
        "intake_order_id": result.intake_order_id,
        "seconds": round(seconds, 3),
        "devices_per_second": round(rate),
    }
    text = f"{result.created} created, {result.updated} updated in {seconds:.2f} s ({rate:,.0f} devices/s)"
    emit(summary, as_json, text)


@app.command()
def demo(
    devices: Annotated[int, typer.Option("--devices", min=100, help="How many devices a new demo company gets.")] = 600,
    serve_after: Annotated[bool, typer.Option("--serve", help="Then serve the APIs.")] = False,
    host: Annotated[str, typer.Option(help="Address the printed URLs (and --serve) use.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port the printed URLs (and --serve) use.")] = 8000,
    as_json: JsonFlag = False,
) -> None:
    """Fill the database with a realistic demo company ("Demo Corp"; reused if it exists) and print
    a new API key with ready-to-paste curl lines."""
    from custody.demo import DEMO_COMPANY, build_demo, curl_lines

    db = open_db()
    with db.write() as session:
        made = build_demo(session, devices=devices)
    db.dispose()
    settings = Settings.from_env()
    base = f"http://{host}:{port}{settings.company_devices_base}"
    curls = curl_lines(f"http://{host}:{port}", settings, made)
    result = {
        "company_id": made.company_id,
        "reused": made.reused,
        "devices": made.devices,
        "people": made.people,
        "token": made.token,
        "person_token": made.person_token,
        "base_url": base,
        "curl": curls,
    }
    verb = "reused" if made.reused else "created"
    text = "\n".join(
        [
            f"{verb} company {made.company_id} ({DEMO_COMPANY}): {made.devices} devices, {made.people} people",
            f"API key: {made.token}",
            f"a person's key (ownership API): {made.person_token}",
            "",
            *curls,
        ]
    )
    emit(result, as_json, text)
    if serve_after:
        serve(host=host, port=port, workers=1)


def _require_company(session: Any, company_id: int) -> None:
    from custody.db.models import Company
    from custody.domain.errors import NotFound

    if session.get(Company, company_id) is None:
        raise NotFound("COMPANY_NOT_FOUND", f"no company {company_id}")


def _device_company(session: Any, device_id: int) -> int:
    """The company of a device id (device ids are unique across companies)."""
    from sqlalchemy import select

    from custody.db.models import Device
    from custody.domain.errors import NotFound
    from custody.domain.tenancy import MAX_ID

    company: int | None = None
    if 0 < device_id <= MAX_ID:
        company = session.scalar(select(Device.company_id).where(Device.id == device_id))
    if company is None:
        raise NotFound("DEVICE_NOT_FOUND", f"no device {device_id}")
    return company


def main() -> None:
    app()


if __name__ == "__main__":
    main()

__all__ = ["Path", "app", "main"]
