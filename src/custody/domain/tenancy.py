"""Who is calling, and the only door to a company's rows.

Services receive a `Tenant`, never a bare session: every query it builds already carries the
caller's company, so forgetting the filter is not possible by construction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ScalarResult, Select, select
from sqlalchemy.orm import Session

from custody.db.engine import Reader
from custody.domain.errors import Forbidden, NotFound


@dataclass(frozen=True, slots=True)
class Caller:
    company_id: int
    person_id: int | None
    can_write: bool
    key_id: int | None = None


RowT = TypeVar("RowT")
# Ids are 64-bit: a larger one cannot exist, so lookups answer "not found" instead of overflowing.
MAX_ID = 2**63 - 1


class Tenant:
    def __init__(self, session: Session, caller: Caller) -> None:
        self._session = session
        self.caller = caller
        self.company_id = caller.company_id
        self.dialect = session.get_bind().dialect.name

    def select(self, model: type[RowT]) -> Select[RowT]:
        return select(model).where(model.company_id == self.company_id)  # type: ignore[attr-defined]

    def columns(self, model: type[Any], *cols: Any) -> Select[Any]:
        return select(*cols).where(model.company_id == self.company_id)

    def get(self, model: type[RowT], row_id: int, not_found: str, *, for_update: bool = False) -> RowT:
        if not 0 < row_id <= MAX_ID:
            raise NotFound(not_found)
        stmt = self.select(model).where(model.id == row_id)  # type: ignore[attr-defined]
        if for_update:
            stmt = stmt.with_for_update()
        row = self._session.scalars(stmt).one_or_none()
        if row is None:
            raise NotFound(not_found)
        return row

    def add(self, row: Any) -> None:
        if row.company_id != self.company_id:
            raise Forbidden("CROSS_COMPANY_WRITE")
        self._session.add(row)

    def execute(self, stmt: Select[Any]) -> Any:
        """Run a statement built from `select` / `columns` above."""
        return self._session.execute(stmt)

    def rows(self, stmt: Select[Any], params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Execute a Core statement; its `:company_id` parameter is always the caller's company."""
        result = self._session.connection().execute(stmt, {**params, "company_id": self.company_id})
        return [tuple(row) for row in result]

    def scalars(self, stmt: Select[RowT]) -> ScalarResult[RowT]:
        return self._session.scalars(stmt)

    @property
    def session(self) -> Session:
        """For writes keyed by rows already fetched through this tenant (bulk updates, flush)."""
        return self._session

    def require_write(self) -> None:
        if not self.caller.can_write:
            raise Forbidden("INSUFFICIENT_SCOPE")


class TenantSnapshot:
    """A caller's read-only view on a `Database.snapshot()`, for the hot read paths."""

    def __init__(self, reader: Reader, caller: Caller) -> None:
        self._reader = reader
        self.caller = caller
        self.company_id = caller.company_id
        self.dialect = reader.dialect

    def rows(self, stmt: Select[Any], params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Execute a Core statement; its `:company_id` parameter is always the caller's company."""
        return self._reader.rows(stmt, {**params, "company_id": self.company_id})
