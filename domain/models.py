"""Every table, imported in one place so that metadata and migrations see them all."""

from domain.access import (
    AccessLink,
    AdminSessionRecord,
    AdminUser,
    ApiToken,
    ArtifactPublish,
    LoginAttempt,
    StoredSummary,
)
from domain.deputies import DeputyChange
from domain.emails import Notice, OutboxRun, OutgoingEmail
from domain.evidence import Evidence, EvidenceFile, FileBlob
from domain.inbound import InboundMessage
from domain.organisations import Organisation
from domain.roadmap import Roadmap, RoadmapItem
from domain.roadmap_setup_models import RoadmapChange, RoadmapDraft
from domain.stored_summaries import StoredSummaryFile
from domain.tasks import Occurrence, Task, TaskEvent
from domain.undelivered import AddressCorrection

__all__ = [
    "AccessLink",
    "AddressCorrection",
    "AdminSessionRecord",
    "AdminUser",
    "ApiToken",
    "ArtifactPublish",
    "DeputyChange",
    "Evidence",
    "EvidenceFile",
    "FileBlob",
    "InboundMessage",
    "LoginAttempt",
    "Notice",
    "Occurrence",
    "Organisation",
    "OutboxRun",
    "OutgoingEmail",
    "Roadmap",
    "RoadmapChange",
    "RoadmapDraft",
    "RoadmapItem",
    "StoredSummary",
    "StoredSummaryFile",
    "Task",
    "TaskEvent",
]
