"""Answers to tasks: the one code path every answer takes (the answer page, the JSON API,
the email inbox and the demo's simulated heads). The centre's review is `services.reviews`."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any
from urllib.parse import urlsplit

from sqlmodel import Session, col, func, select

from config.settings import Settings
from domain import lifecycle
from domain.deputies import is_deputy_address
from domain.enums import EvidenceFieldKind, NoticeKind, TaskEventKind
from domain.evidence import Evidence, EvidenceFile, FileBlob
from domain.formatting import local_date
from domain.notices import OwedNotice
from domain.organisations import Organisation
from domain.recipients import task_recipients
from domain.roadmap import EvidenceField, RoadmapItem
from domain.tasks import Task, change_status
from notifications.outbox import queue_notices

TEXT_MAX = 2_000
LONG_TEXT_MAX = 20_000
URL_MAX = 2_000
FILES_PER_FIELD = 10
NAME_MAX = 200

# The statuses in which an answer (or a journal entry) may be sent: the lifecycle table's.
ANSWERABLE = lifecycle.ANSWERABLE


@dataclass(frozen=True)
class UploadedFile:
    field: str
    filename: str
    content: bytes
    content_type: str


class AnswerError(ValueError):
    """Bad input; `errors` maps a field name (or "task") to a Russian message."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors: dict[str, str] = dict(errors)
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.errors.items()))


@dataclass(frozen=True)
class FileType:
    content_type: str
    magic: tuple[bytes, ...] = ()  # empty: checked by `_looks_like_text`
    label: str = ""


_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP = (b"PK\x03\x04", b"PK\x05\x06")

ALLOWED_TYPES: dict[str, FileType] = {
    "pdf": FileType("application/pdf", (b"%PDF-",)),
    "doc": FileType("application/msword", (_OLE,)),
    "docx": FileType(
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document", _ZIP
    ),
    "xls": FileType("application/vnd.ms-excel", (_OLE,)),
    "xlsx": FileType("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", _ZIP),
    "odt": FileType("application/vnd.oasis.opendocument.text", _ZIP),
    "ods": FileType("application/vnd.oasis.opendocument.spreadsheet", _ZIP),
    "jpg": FileType("image/jpeg", (b"\xff\xd8\xff",)),
    "jpeg": FileType("image/jpeg", (b"\xff\xd8\xff",)),
    "png": FileType("image/png", (b"\x89PNG\r\n\x1a\n",)),
    "txt": FileType("text/plain"),
    "zip": FileType("application/zip", _ZIP),
}
ALLOWED_EXTENSIONS_TEXT = "PDF, DOC, DOCX, XLS, XLSX, ODT, ODS, JPG, PNG, TXT, ZIP"
ACCEPT_ATTRIBUTE = ",".join(f".{ext}" for ext in ALLOWED_TYPES)

_DATE_RU = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")
_DATE_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


# --- validation ---------------------------------------------------------------------------


def parse_evidence_date(raw: str) -> date | None:
    """DD.MM.YYYY or YYYY-MM-DD; None when it is neither or not a real day."""
    text = raw.strip()
    if m := _DATE_RU.match(text):
        day, month, year = int(m[1]), int(m[2]), int(m[3])
    elif m := _DATE_ISO.match(text):
        year, month, day = int(m[1]), int(m[2]), int(m[3])
    else:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _clean_value(spec: EvidenceField, raw: str) -> tuple[Any, str | None]:
    """The stored value of a non-file field, or an error message."""
    text = raw.replace("\r\n", "\n").strip()
    if not text:
        return None, "Заполните это поле." if spec.required else None
    if "\x00" in text:
        return None, "Недопустимые символы в тексте."
    kind = spec.kind
    if kind is EvidenceFieldKind.text:
        if len(text) > TEXT_MAX:
            return None, f"Слишком длинный текст: не больше {TEXT_MAX} знаков."
        return text, None
    if kind is EvidenceFieldKind.long_text:
        if len(text) > LONG_TEXT_MAX:
            return None, f"Слишком длинный текст: не больше {LONG_TEXT_MAX} знаков."
        return text, None
    if kind is EvidenceFieldKind.url:
        parts = urlsplit(text)
        if (
            parts.scheme.lower() not in ("http", "https")
            or not parts.netloc
            or any(c.isspace() for c in text)
            or len(text) > URL_MAX
        ):
            return None, "Укажите адрес ссылки целиком, например https://school.example/news/1."
        return text, None
    if kind is EvidenceFieldKind.number:
        digits = text.replace(" ", "").replace("\u00a0", "")
        if not digits.isascii() or not digits.isdigit():
            return None, "Укажите целое неотрицательное число, например 12."
        if len(digits) > 9:
            return None, "Слишком большое число."
        return int(digits), None
    if kind is EvidenceFieldKind.date:
        day = parse_evidence_date(text)
        if day is None:
            return None, "Укажите дату в виде ДД.ММ.ГГГГ, например 14.09.2022."
        return day.isoformat(), None
    raise AssertionError(f"not a value field: {kind}")


def _safe_original_name(filename: str) -> str:
    """The user's file name as data: no folders, no control characters, bounded."""
    name = PureWindowsPath(PurePosixPath(filename).name).name
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[-NAME_MAX:] or "файл"


def _extension(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def _looks_like_text(content: bytes) -> bool:
    if b"\x00" in content[:8192]:
        return False
    sample = content[:8192]
    for encoding in ("utf-8", "cp1251"):
        try:
            sample.decode(encoding)
        except UnicodeDecodeError as exc:
            # a multi-byte character cut at the sample's end is still text
            if encoding == "utf-8" and exc.start >= len(sample) - 3 and len(content) > 8192:
                return True
            continue
        return True
    return False


def check_file(upload: UploadedFile, settings: Settings) -> str | None:
    """Why this upload is refused, or None when it is acceptable."""
    name = _safe_original_name(upload.filename)
    ext = _extension(name)
    kind = ALLOWED_TYPES.get(ext)
    if kind is None:
        return f"Файл «{name}»: такой тип не принимается. Можно: {ALLOWED_EXTENSIONS_TEXT}."
    size = len(upload.content)
    if size == 0:
        return f"Файл «{name}» пуст."
    if size > settings.upload_max_bytes:
        limit = settings.upload_max_bytes / (1024 * 1024)
        return f"Файл «{name}» слишком большой: не больше {limit:.0f} МБ."
    ok = (
        _looks_like_text(upload.content)
        if not kind.magic
        else any(upload.content.startswith(m) for m in kind.magic)
    )
    if not ok:
        return f"Файл «{name}» не похож на файл {ext.upper()}: проверьте, что он не повреждён."
    return None


DEFAULT_FIELD = EvidenceField(
    name="comment", label="Что сделано", kind=EvidenceFieldKind.long_text, required=True
)


def answer_fields(item: RoadmapItem) -> list[EvidenceField]:
    """The fields an answer to `item` has; an item without a spec asks for a description."""
    return list(item.evidence.fields) or [DEFAULT_FIELD]


@dataclass
class _CleanAnswer:
    values: dict[str, Any] = field(default_factory=dict)
    files: list[tuple[str, str, UploadedFile]] = field(default_factory=list)  # field, name, file


def validate_answer(
    *,
    item: RoadmapItem,
    values: Mapping[str, str],
    files: Sequence[UploadedFile],
    settings: Settings,
) -> _CleanAnswer:
    """Check an answer against the item's evidence spec; AnswerError lists every problem."""
    errors: dict[str, str] = {}
    clean = _CleanAnswer()
    by_field: dict[str, list[UploadedFile]] = {}
    for upload in files:
        if upload.filename or upload.content:
            by_field.setdefault(upload.field, []).append(upload)
    for f in answer_fields(item):
        if f.kind is EvidenceFieldKind.file:
            uploads = by_field.get(f.name, [])
            if not uploads:
                if f.required:
                    errors[f.name] = "Приложите файл."
                continue
            if len(uploads) > FILES_PER_FIELD:
                errors[f.name] = f"Не больше {FILES_PER_FIELD} файлов в одном поле."
                continue
            for upload in uploads:
                problem = check_file(upload, settings)
                if problem is not None:
                    errors[f.name] = problem
                    break
                clean.files.append((f.name, _safe_original_name(upload.filename), upload))
            continue
        value, problem = _clean_value(f, values.get(f.name, "") or "")
        if problem is not None:
            errors[f.name] = problem
        elif value is not None:
            clean.values[f.name] = value
    if errors:
        raise AnswerError(errors)
    return clean


# --- recipients ---------------------------------------------------------------------------


def task_recipient(
    *, session: Session, task: Task, settings: Settings, on_day: date | None = None
) -> tuple[str, tuple[str, ...]]:
    """(to, cc) for a task's emails on `on_day` (a deputy then holding included), by the
    same rule the annual cycle uses."""
    item = session.get(RoadmapItem, task.item_id)
    if item is None:
        raise LookupError(f"task {task.id}: roadmap item {task.item_id} is missing")
    org = None
    if task.organisation_id is not None:
        org = session.get(Organisation, task.organisation_id)
        if org is None:
            raise LookupError(f"task {task.id}: organisation {task.organisation_id} is missing")
    return task_recipients(task, org, item, settings.centre_email, on_day=on_day)


# --- answering ----------------------------------------------------------------------------


def _store_file(
    session: Session,
    upload: UploadedFile,
    *,
    task_id: int,
    field_name: str,
    original: str,
) -> EvidenceFile:
    """Keep an upload's bytes in the database (in the answer's transaction, so a failed
    answer leaves nothing behind) under a generated name."""
    ext = _extension(original)
    stored = f"task-{task_id}/{uuid.uuid4().hex}.{ext}"
    blob = FileBlob(content=upload.content)
    session.add(blob)
    session.flush()
    return EvidenceFile(
        blob_id=blob.id,
        evidence_id=0,  # set by the caller once the evidence row has an id
        field=field_name,
        original_name=original,
        stored_name=stored,
        size=len(upload.content),
        sha256=hashlib.sha256(upload.content).hexdigest(),
        content_type=ALLOWED_TYPES[ext].content_type,
    )


def remove_written(paths: Iterable[Path]) -> None:
    """Delete the files of an answer whose transaction did not commit."""
    for path in paths:
        path.unlink(missing_ok=True)


def stored_content(session: Session, evidence_file: EvidenceFile, settings: Settings) -> bytes:
    """An uploaded file's bytes: from the database, or for a file an earlier release
    wrote to disk, from the uploads folder. LookupError when it is gone."""
    if evidence_file.blob_id is not None:
        blob = session.get(FileBlob, evidence_file.blob_id)
        if blob is None:
            raise LookupError(f"evidence file {evidence_file.id}: its stored bytes are missing")
        return blob.content
    path = stored_path(evidence_file, settings)
    if not path.is_file():
        raise LookupError(f"evidence file {evidence_file.id}: {path} is missing")
    return path.read_bytes()


def stored_path(evidence_file: EvidenceFile, settings: Settings) -> Path:
    """Where an uploaded file lives; the stored name is generated, never the user's."""
    base = settings.uploads_dir.resolve()
    path = (base / evidence_file.stored_name).resolve()
    if base not in path.parents:
        raise LookupError(f"evidence file {evidence_file.id}: stored name leaves the folder")
    return path


def submit_answer(
    *,
    session: Session,
    task: Task,
    values: Mapping[str, str],
    files: Sequence[UploadedFile],
    by: str,
    settings: Settings,
    now: datetime,
    written: list[Path] | None = None,
    via: str = "",
) -> Evidence:
    """Validate and store an answer as the task's next evidence version, mark the task
    submitted, record the event and queue the receipt to `by`. Does not commit.

    Files are written only once the answer is valid, and their paths are appended to
    `written`: a caller whose commit then fails should pass them to `remove_written`.
    When this function itself fails, it removes the files it wrote. `via` is added to the
    history's note (e.g. "ответ по электронной почте, Message-ID <…>")."""
    assert task.id is not None
    if lifecycle.is_done(task.status):
        raise AnswerError({"task": "Задача уже выполнена: центр принял ответ."})
    if task.status not in ANSWERABLE:
        raise AnswerError({"task": "На эту задачу сейчас нельзя ответить."})
    item = session.get(RoadmapItem, task.item_id)
    if item is None:
        raise LookupError(f"task {task.id}: roadmap item {task.item_id} is missing")
    clean = validate_answer(item=item, values=values, files=files, settings=settings)

    mine: list[Path] = []
    try:
        evidence = _record_answer(
            session=session,
            task=task,
            clean=clean,
            by=by,
            settings=settings,
            now=now,
            mine=mine,
            via=via,
        )
    except BaseException:
        remove_written(mine)
        raise
    finally:
        if written is not None:
            written.extend(p for p in mine if p.exists())
    return evidence


def _record_answer(
    *,
    session: Session,
    task: Task,
    clean: _CleanAnswer,
    by: str,
    settings: Settings,
    now: datetime,
    mine: list[Path],
    via: str = "",
) -> Evidence:
    assert task.id is not None
    latest = session.exec(
        select(func.max(Evidence.version)).where(Evidence.task_id == task.id)
    ).one()
    version = int(latest or 0) + 1
    evidence = Evidence(
        task_id=task.id,
        version=version,
        submitted_at=now,
        submitted_by=by,
        values=clean.values,
    )
    session.add(evidence)
    session.flush()
    assert evidence.id is not None
    for field_name, original, upload in clean.files:
        row = _store_file(
            session, upload, task_id=task.id, field_name=field_name, original=original
        )
        row.evidence_id = evidence.id
        session.add(row)

    event = change_status(
        task,
        event=TaskEventKind.submitted,
        actor=by,
        now=now,
        note=f"версия {version}" + (f"; {via}" if via else ""),
    )
    task.submitted_at = now
    session.add(task)
    session.add(event)
    session.flush()
    queue_notices(
        session=session,
        owed=[
            OwedNotice(
                task_id=task.id,
                kind=NoticeKind.receipt,
                step=version,
                on_day=local_date(now, settings.tz),
                recipient=by,
                cc=_head_in_copy(session, task, by),
            )
        ],
        settings=settings,
        now=now,
    )
    return evidence


def _head_in_copy(session: Session, task: Task, by: str) -> tuple[str, ...]:
    """A deputy's receipt goes to the head in copy, as the deputy's task mail does."""
    org = session.get(Organisation, task.organisation_id) if task.organisation_id else None
    if org is None or not is_deputy_address(org, by) or not org.head_email:
        return ()
    return (org.head_email,)


def latest_evidence(*, session: Session, task_id: int) -> Evidence | None:
    return session.exec(
        select(Evidence)
        .where(Evidence.task_id == task_id)
        .order_by(col(Evidence.version).desc())
        .limit(1)
    ).first()
