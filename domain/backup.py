"""Backup and restore: the domain database and the stored files, in a portable zip.

The archive holds `manifest.json` (format, schema revision, row counts, each file's size
and SHA-256), one JSON-lines file per table in dependency order
(`tables/03-roadmap_item.jsonl`: one row a line, ids kept) and the files under
`files/uploads/` (answers' uploads that earlier releases kept only in the var folder).
Uploads and written summaries of this release are database rows (`file_blob`), so the
tables hold them. It reads the same on SQLite and PostgreSQL, so it also moves an installation
from one to the other.

Plain code: given a connection and folders; no Prefect, no clock (the time is passed in).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import Column, Connection, Integer, Table, func, select, text
from sqlalchemy.types import TypeDecorator
from sqlmodel import SQLModel

import domain.models  # noqa: F401  (registers every table)

FORMAT = "roadmap-engine-backup"
VERSION = 1
FILE_FOLDERS = ("uploads",)
BATCH = 500


class BackupError(Exception):
    """A backup that cannot be made or restored; the message says why and what to do."""


@dataclass(frozen=True)
class BackupReport:
    rows: dict[str, int]
    files: int
    bytes: int


def tables() -> list[Table]:
    """Every table, parents before children."""
    return list(SQLModel.metadata.sorted_tables)


def _python_type(column: Column[Any]) -> type | None:
    kind = column.type
    if isinstance(kind, TypeDecorator):
        kind = kind.impl_instance
    try:
        return kind.python_type
    except NotImplementedError:  # SQLAlchemy's answer for a type with no Python type
        return None


def _encode(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Decimal):
        return str(value)
    return value


def _decoder(column: Column[Any]) -> Any:
    kind = _python_type(column)
    if kind is None or kind in (dict, list):
        return None
    if kind is datetime:
        return datetime.fromisoformat
    if kind is date:
        return date.fromisoformat
    if kind is time:
        return time.fromisoformat
    if kind is bytes:
        return base64.b64decode
    if kind is Decimal:
        return Decimal
    if issubclass(kind, Enum):
        enum: type[Enum] = kind

        def member(value: Any) -> Enum:
            try:
                return enum(value)
            except ValueError:
                return enum[value]

        return member
    return None


def schema_revision(conn: Connection) -> str | None:
    try:
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception:
        return None


def _files(var_dir: Path) -> Iterator[tuple[str, Path]]:
    """(name in the archive, path) of every stored file, in a stable order."""
    for folder in FILE_FOLDERS:
        base = var_dir / folder
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            if path.is_file() and not path.is_symlink():
                yield f"files/{folder}/{path.relative_to(base).as_posix()}", path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def dump(conn: Connection, *, var_dir: Path, out: Path, now: datetime) -> BackupReport:
    """Write the archive `out` from `conn` (read in one transaction, on PostgreSQL a
    repeatable-read snapshot when the caller opened it so) and `var_dir`'s files."""
    revision = schema_revision(conn)
    if revision is None:
        raise BackupError("в базе данных нет схемы (alembic_version): копировать нечего")
    rows: dict[str, int] = {}
    files: dict[str, dict[str, Any]] = {}
    total = 0
    partial = out.with_name(out.name + ".partial")
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for number, table in enumerate(tables(), start=1):
                order = [c for c in table.primary_key.columns] or list(table.columns)
                result = conn.execution_options(yield_per=BATCH).execute(
                    select(table).order_by(*order)
                )
                count = 0
                with archive.open(f"tables/{number:02d}-{table.name}.jsonl", "w") as member:
                    stream = io.TextIOWrapper(member, encoding="utf-8", newline="\n")
                    for row in result.mappings():
                        record = {key: _encode(value) for key, value in row.items()}
                        stream.write(json.dumps(record, ensure_ascii=False) + "\n")
                        count += 1
                    stream.flush()
                    stream.detach()
                rows[table.name] = count
            for name, path in _files(var_dir):
                archive.write(path, name)
                size = path.stat().st_size
                files[name] = {"size": size, "sha256": _sha256(path)}
                total += size
            manifest = {
                "format": FORMAT,
                "version": VERSION,
                "created_at": now.isoformat(),
                "schema_revision": revision,
                "dialect": conn.dialect.name,
                "var_dir": str(var_dir),
                "tables": [t.name for t in tables()],
                "rows": rows,
                "files": files,
            }
            archive.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2))
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    return BackupReport(rows=rows, files=len(files), bytes=total)


def read_manifest(archive: zipfile.ZipFile, source: str) -> dict[str, Any]:
    try:
        manifest = json.loads(archive.read("manifest.json"))
    except KeyError:
        raise BackupError(
            f"{source}: нет manifest.json — это не резервная копия «Дорожной карты»"
        ) from None
    except ValueError as exc:
        raise BackupError(f"{source}: manifest.json — не JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(
            f"{source}: это не резервная копия «Дорожной карты» (ожидается формат {FORMAT!r})"
        )
    if manifest.get("version") != VERSION:
        raise BackupError(
            f"{source}: копия в формате версии {manifest.get('version')}, эта версия "
            f"читает {VERSION}; восстановите её той версией, которая её сделала"
        )
    return manifest


def occupied(conn: Connection) -> dict[str, int]:
    """Tables that hold rows, with their counts."""
    counts: dict[str, int] = {}
    for table in tables():
        n = conn.execute(select(func.count()).select_from(table)).scalar_one()
        if n:
            counts[table.name] = int(n)
    return counts


def stored_files(var_dir: Path) -> int:
    return sum(1 for _ in _files(var_dir))


def _safe_target(var_dir: Path, name: str, source: str) -> Path:
    parts = PurePosixPath(name).parts
    if (
        len(parts) < 3
        or parts[0] != "files"
        or parts[1] not in FILE_FOLDERS
        or any(p in ("", ".", "..") for p in parts)
        or PurePosixPath(name).is_absolute()
    ):
        raise BackupError(f"{source}: неожиданное имя файла в архиве: {name!r}")
    return var_dir.joinpath(*parts[1:])


def restore(conn: Connection, *, archive_path: Path, var_dir: Path, force: bool) -> BackupReport:
    """Load the archive into the database behind `conn` (migrated to the same schema
    revision, inside the caller's transaction) and its files into `var_dir`.

    Refuses a database that holds rows or a var folder that holds stored files unless
    `force`, which first empties them. Ids are kept; PostgreSQL sequences continue after
    the highest id restored."""
    source = str(archive_path)
    try:
        archive = zipfile.ZipFile(archive_path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise BackupError(f"{source}: не удаётся открыть архив ({exc})") from None
    with archive:
        manifest = read_manifest(archive, source)
        revision = schema_revision(conn)
        if manifest.get("schema_revision") != revision:
            raise BackupError(
                f"{source}: сделана при схеме {manifest.get('schema_revision')}, а эта база — "
                f"при схеме {revision}; восстановите её той версией, которая её сделала (и "
                "затем обновите), или сделайте копию заново этой версией"
            )
        known = {t.name: t for t in tables()}
        unknown = [name for name in manifest.get("tables", []) if name not in known]
        if unknown:
            raise BackupError(f"{source}: таблицы, которых эта версия не знает: {unknown}")
        filled = occupied(conn)
        present = stored_files(var_dir)
        if (filled or present) and not force:
            what = ", ".join(f"{name}: {n}" for name, n in filled.items())
            raise BackupError(
                "база данных не пуста"
                + (f" ({what})" if what else "")
                + (f"; в {var_dir} хранимых файлов: {present}" if present else "")
                + ": восстанавливайте в пустую базу или добавьте --force, чтобы заменить "
                "всё, что в ней есть"
            )
        if filled:
            for table in reversed(tables()):
                conn.execute(table.delete())
        members = {
            PurePosixPath(n).stem.partition("-")[2]: n
            for n in archive.namelist()
            if n.startswith("tables/") and n.endswith(".jsonl")
        }
        rows: dict[str, int] = {}
        for table in tables():
            member = members.get(table.name)
            if member is None:
                if manifest.get("rows", {}).get(table.name):
                    raise BackupError(f"{source}: нет строк таблицы {table.name}")
                rows[table.name] = 0
                continue
            rows[table.name] = _load_table(conn, table, archive, member, source)
            expected = manifest.get("rows", {}).get(table.name)
            if expected is not None and expected != rows[table.name]:
                raise BackupError(
                    f"{source}: в {member} строк: {rows[table.name]}, а в manifest.json — "
                    f"{expected}; архив повреждён"
                )
        if conn.dialect.name == "postgresql":
            _reset_sequences(conn)
        files, total = _restore_files(archive, manifest, var_dir, source, replace=force)
    return BackupReport(rows=rows, files=files, bytes=total)


def _load_table(
    conn: Connection,
    table: Table,
    archive: zipfile.ZipFile,
    member: str,
    source: str,
) -> int:
    decoders = {c.name: _decoder(c) for c in table.columns}
    count = 0
    batch: list[dict[str, Any]] = []
    with archive.open(member) as raw:
        for line_number, line in enumerate(io.TextIOWrapper(raw, encoding="utf-8"), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                row: dict[str, Any] = {}
                for key, value in record.items():
                    if key not in decoders:
                        raise BackupError(
                            f"{source}: {member}, строка {line_number}: столбца {key!r} нет "
                            f"в таблице {table.name}"
                        )
                    decode = decoders[key]
                    try:
                        row[key] = decode(value) if decode and value is not None else value
                    except (ValueError, KeyError, TypeError) as exc:
                        raise ValueError(f"столбец {key}: неверное значение {value!r}") from exc
            except (ValueError, AttributeError) as exc:
                raise BackupError(f"{source}: {member}, строка {line_number}: {exc}") from None
            batch.append(row)
            count += 1
            if len(batch) >= BATCH:
                conn.execute(table.insert(), batch)
                batch = []
    if batch:
        conn.execute(table.insert(), batch)
    return count


def _reset_sequences(conn: Connection) -> None:
    """The next id after the highest one restored, for every serial primary key."""
    for table in tables():
        for column in table.primary_key.columns:
            if not isinstance(column.type, Integer):
                continue
            sequence = conn.execute(
                text("SELECT pg_get_serial_sequence(:table, :column)"),
                {"table": table.name, "column": column.name},
            ).scalar()
            if sequence is None:
                continue
            conn.execute(
                text(
                    f'SELECT setval(:sequence, COALESCE(MAX("{column.name}"), 1), '
                    f'MAX("{column.name}") IS NOT NULL) FROM "{table.name}"'
                ),
                {"sequence": sequence},
            )


def _restore_files(
    archive: zipfile.ZipFile,
    manifest: dict[str, Any],
    var_dir: Path,
    source: str,
    *,
    replace: bool,
) -> tuple[int, int]:
    listed: dict[str, dict[str, Any]] = manifest.get("files", {})
    members = [n for n in archive.namelist() if n.startswith("files/") and not n.endswith("/")]
    missing = sorted(set(listed) - set(members))
    if missing:
        raise BackupError(f"{source}: нет файлов, перечисленных в manifest.json: {missing[:5]}")
    targets = {name: _safe_target(var_dir, name, source) for name in members}
    if replace:
        for folder in FILE_FOLDERS:
            shutil.rmtree(var_dir / folder, ignore_errors=True)
    total = 0
    for name, target in targets.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        with archive.open(name) as src, target.open("wb") as dst:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                digest.update(chunk)
                dst.write(chunk)
        expected = listed.get(name, {}).get("sha256")
        if expected is not None and digest.hexdigest() != expected:
            raise BackupError(
                f"{source}: {name} не совпадает с контрольной суммой; архив повреждён"
            )
        total += target.stat().st_size
    return len(targets), total
