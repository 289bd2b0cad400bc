"""Write statements compiled by the ORM ahead of time and executed later, under a lock.

On SQLite the machine's writers take turns at one lock (`generation.queueing.write_gate`), so
whatever a writer does while holding it, every other writer waits for. Compiling a queryset
(the filter tree, expressions, field conversions) costs 0.2–1 ms of Python per statement;
executing the compiled SQL costs tens of microseconds. So the hot transactions compile their
statements first, in parallel across processes, and only execute them inside the lock.

The statements are the ORM's own SQL: the same conversions, quoting and vendor differences as
`QuerySet.update()` and `bulk_create()`; no model signals are involved (neither sends any).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Callable

from django.db import connections, router, transaction
from django.db.models import (CharField, DateTimeField, Field, IntegerField, JSONField, TextField, UUIDField,
                              sql)
from django.db.models.fields import AutoFieldMixin

if TYPE_CHECKING:
    from django.db.models import QuerySet


@dataclass(frozen=True)
class Statement:
    sql: str
    params: tuple
    using: str

    def run(self) -> int:
        """Execute; the number of rows written."""
        return self._execute(lambda cursor: cursor.rowcount)

    def run_returning(self):
        """Execute; the first column of the first row (for `returning=`: of the row written), or None."""
        return self._execute(_first_value)

    def run_all(self) -> list[tuple]:
        """Execute; every row, as the database returns it (no field converters: SQLite's booleans
        are 0 and 1, its datetimes strings)."""
        return self._execute(lambda cursor: cursor.fetchall())

    def _execute(self, read: Callable):
        """Execute in the current transaction, marking it for rollback if that fails; what `read`
        takes from the cursor."""
        with transaction.mark_for_rollback_on_error(using=self.using), connections[self.using].cursor() as cursor:
            cursor.execute(self.sql, self.params)
            return read(cursor)


def _first_value(cursor):
    row = cursor.fetchone()
    return row[0] if row else None


def supports_update_returning(using: str = "default") -> bool:
    """UPDATE … RETURNING: SQLite from 3.35 (the same release as INSERT … RETURNING) and PostgreSQL."""
    connection = connections[using]
    return connection.vendor in ("sqlite", "postgresql") and connection.features.can_return_columns_from_insert


def update(queryset, *, returning: str | None = None, **values) -> Statement:
    """`queryset.update(**values)`, compiled now and run later. `returning` names a field whose
    value the statement returns for the row it wrote (see `supports_update_returning`)."""
    using = queryset._db or router.db_for_write(queryset.model)
    query = queryset.query.chain(sql.UpdateQuery)
    query.add_update_values(values)
    query.clear_select_clause()
    text, params = query.get_compiler(using).as_sql()
    if query.related_updates or not text:
        raise ValueError("only single-table updates can be compiled ahead")
    if returning:
        opts = queryset.model._meta
        column = (opts.pk if returning == "pk" else opts.get_field(returning)).column
        text += " RETURNING " + connections[using].ops.quote_name(column)
    return Statement(text, tuple(params), using)


def exists(queryset) -> Statement:
    """`queryset.exists()`, compiled now: `run_returning()` is None when no row matches."""
    using = queryset._db or router.db_for_read(queryset.model)
    text, params = queryset.query.exists(limit=True).get_compiler(using).as_sql()
    return Statement(text, tuple(params), using)


def select(queryset) -> Statement:
    """`queryset` (say a `values_list()`), compiled now: `run_all()` gives its rows."""
    using = queryset._db or router.db_for_read(queryset.model)
    text, params = queryset.query.get_compiler(using).as_sql()
    return Statement(text, tuple(params), using)


def count(*querysets) -> Statement:
    """The sum of the querysets' `count()`s (of one database), compiled now: `run_returning()`
    gives the number, in one round trip."""
    inners = [select(queryset.values("pk")) for queryset in querysets]
    if len({inner.using for inner in inners}) != 1:
        raise ValueError("the querysets counted together must read one database")
    text = " + ".join(f"(SELECT COUNT(*) FROM ({inner.sql}) counted)" for inner in inners)
    return Statement(f"SELECT {text}", sum((inner.params for inner in inners), ()), inners[0].using)


def delete(queryset) -> Statement:
    """A plain DELETE of `queryset`'s rows, compiled now and run later. Unlike
    `QuerySet.delete()` it neither cascades nor sends signals: for rows nothing refers to."""
    using = queryset._db or router.db_for_write(queryset.model)
    query = queryset.query.chain(sql.DeleteQuery)
    text, params = query.get_compiler(using).as_sql()
    return Statement(text, tuple(params), using)


def insert(objs, *, using: str | None = None, returning_pk: bool = False) -> list[Statement]:
    """`bulk_create(objs)` for new rows of one model, compiled now and run later. A primary key
    the database assigns is read back only with `returning_pk` (one object; `run_returning()`
    gives it, or None where the database cannot return it)."""
    objs = list(objs)
    if not objs:
        return []
    model = type(objs[0])
    using = using or router.db_for_write(model)
    pk = model._meta.pk
    # As bulk_create: a key none of the objects carries is left to the database.
    auto = all(getattr(obj, pk.attname) is None for obj in objs)
    fields = [f for f in model._meta.concrete_fields if not (f.primary_key and auto)]
    query = sql.InsertQuery(model)
    query.insert_values(fields, objs)
    compiler = query.get_compiler(using)
    if returning_pk:
        if len(objs) != 1:
            raise ValueError("returning_pk reads back one row's key")
        if connections[using].features.can_return_columns_from_insert:
            compiler.returning_fields = [pk]
    return [Statement(text, tuple(params), using) for text, params in compiler.as_sql()]


class Loader:
    """Reads of whole model instances, one query shape compiled once: `first(**values)` is
    `build(**values).first()` with the values bound into the compiled SQL (as `Template`), and
    the instance made as the ORM makes it (the same column converters, `Model.from_db`). For
    the reads every job makes at its start, where compiling the query cost more than running it."""

    def __init__(self, build: Callable[..., "QuerySet"], fields: dict[str, Field]):
        self._shape: dict = {}
        self._template = Template(lambda **values: self._compile(build(**values)[:1]), fields)

    def _compile(self, queryset) -> Statement:
        using = queryset._db or router.db_for_read(queryset.model)
        compiler = queryset.query.get_compiler(using)
        text, params = compiler.as_sql()  # also fills compiler.select and klass_info
        if not self._shape:
            info = compiler.klass_info
            start, end = info["select_fields"][0], info["select_fields"][-1] + 1
            self._shape = {"model": info["model"], "start": start, "end": end,
                           "names": [column[0].target.attname for column in compiler.select[start:end]],
                           "converters": list(compiler.get_converters([col[0] for col in compiler.select]).items())}
        return Statement(text, tuple(params), using)

    def first(self, **values):
        statement = self._template.bind(**values)
        rows = statement.run_all()
        if not rows:
            return None
        shape, row, connection = self._shape, list(rows[0]), connections[statement.using]
        for position, (converters, expression) in shape["converters"]:
            value = row[position]
            for converter in converters:
                value = converter(value, expression, connection)
            row[position] = value
        return shape["model"].from_db(statement.using, shape["names"], row[shape["start"]:shape["end"]])


class Template:
    """A statement the ORM compiles once and that runs again with new values of some parameters.

    `build(**values)` compiles the statement for those values (the names are `fields`' keys;
    each field converts its value as the ORM does). It is called twice here, with two samples
    per name. The template is used only when both give the same SQL and their parameters differ
    exactly where the samples went in, unchanged: then each value is a plain parameter and
    `bind` puts new ones in its places. Otherwise (a value that ends up transformed, say
    `now + ttl`) `bind` compiles afresh each time, so a template is never wrong, only slower.
    """

    def __init__(self, build: Callable[..., Statement], fields: dict[str, Field]):
        self._build, self._fields = build, fields
        samples = [{name: _sample(field, k, n) for n, (name, field) in enumerate(fields.items())} for k in (0, 1)]
        try:
            first, second = build(**samples[0]), build(**samples[1])
        except Exception:  # a sample the query cannot take (say, out of a column's range)
            self._base, self.slots = None, None
            return
        self._base = first
        self.slots = _slots(first, second, [self._convert(s, first.using) for s in samples])

    def _convert(self, values: dict, using: str) -> dict:
        connection = connections[using]
        return {name: self._fields[name].get_db_prep_value(value, connection, prepared=False)
                for name, value in values.items()}

    def bind(self, **values) -> Statement:
        if self.slots is None:
            return self._build(**values)
        params = list(self._base.params)
        for name, value in self._convert(values, self._base.using).items():
            for i in self.slots[name]:
                params[i] = value
        return Statement(self._base.sql, tuple(params), self._base.using)


def _sample(field: Field, k: int, n: int):
    """The `k`th sample for the `n`th name: values no statement would hold otherwise, different
    for every name, so a parameter equal to one is that name's slot."""
    if isinstance(field, DateTimeField):
        return datetime(1971 + k, 2 + k, 3 + n % 25, 4, 5, 6, 789012 - k - 10 * n, tzinfo=timezone.utc)
    if isinstance(field, UUIDField):
        return uuid.UUID(int=0x5A3B1E57_0000_4000_8000_0000_0000_0000 + 1000 * n + k)
    if isinstance(field, (CharField, TextField)):
        return f"prepared-template-sample-{n}-{k}"
    if isinstance(field, (IntegerField, AutoFieldMixin)):
        return 12_347 + 101 * n + 2 * k  # within a small integer's range (PostgreSQL checks it)
    if isinstance(field, JSONField):
        return {"prepared-template-sample": [n, k]}
    raise TypeError(f"no sample values for {type(field).__name__} parameters")


def _slots(first: Statement, second: Statement, converted: list[dict]) -> dict[str, list[int]] | None:
    """Where each named value sits in the parameters, or None when the builds do not show it."""
    if first.sql != second.sql or len(first.params) != len(second.params):
        return None
    slots = {name: [i for i, p in enumerate(first.params) if _same(p, value)] for name, value in converted[0].items()}
    if not all(slots.values()):
        return None
    owner = {i: name for name, places in slots.items() for i in places}
    for i, (a, b) in enumerate(zip(first.params, second.params)):
        if not (_same(b, converted[1][owner[i]]) if i in owner else _same(a, b)):
            return None
    return slots


def _same(a, b) -> bool:
    """Equal parameters. psycopg's JSON wrappers (Jsonb) do not define equality: two wrap the
    same value when they are of one type and hold equal objects dumped the same way."""
    if a == b:
        return True
    return (type(a) is type(b) and hasattr(a, "obj") and hasattr(a, "dumps")
            and a.obj == b.obj and a.dumps == b.dumps)
