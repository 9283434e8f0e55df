"""The journal's one table: append-only, each row chained to the previous one by its hash.

Rows are written by :func:`idp.audit.journal.record` only. The model refuses updates and deletes
(``save`` on an existing row, ``delete``, queryset ``update``/``delete``/``bulk_*``) and migration
0002 installs database triggers that refuse ``UPDATE`` and ``DELETE`` from any client, so that a
bug or an injected query cannot quietly rewrite history. Someone with full database rights can
still drop the triggers: the hash chain (:mod:`idp.audit.chain`) is what detects that.
"""

from __future__ import annotations

from typing import Any, NoReturn

from django.db import models

from idp.audit import chain
from idp.audit.tags import EventTag

ACTOR_MAX_LENGTH = 255
SUBJECT_MAX_LENGTH = 255
USER_AGENT_MAX_LENGTH = 256
REQUEST_ID_MAX_LENGTH = 64


class AppendOnlyError(Exception):
    """An audit event was about to be changed or removed. The journal only grows."""


class InvalidEventTag(ValueError):
    """A tag outside the :class:`~idp.audit.tags.EventTag` vocabulary."""


def check_tag(tag: object) -> EventTag:
    """``tag`` as an :class:`EventTag`; free strings are refused even when they spell a known tag,
    so that every emitter imports the vocabulary (and a typo is an import error, not a new tag)."""
    if not isinstance(tag, EventTag):
        raise InvalidEventTag(
            f"Audit tags must be idp.audit.tags.EventTag members, not {type(tag).__name__} "
            f"{tag!r}. Add a new tag to idp/audit/tags.py, in the section of its area."
        )
    return tag


class AuditEventQuerySet(models.QuerySet):
    """Bulk writes would bypass both the model checks and the chain: refused."""

    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Audit events cannot be updated.")

    def delete(self) -> NoReturn:
        raise AppendOnlyError("Audit events cannot be deleted.")

    def bulk_create(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Audit events are appended one at a time by journal.record().")

    def bulk_update(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Audit events cannot be updated.")


class AuditEvent(models.Model):
    """One entry of the security journal.

    ``sequence`` is the primary key and the chain position (1, 2, 3… without gaps: it is assigned
    under the chain lock, not by a database sequence that skips values on rollback). ``tag`` is
    stored as plain text without ``choices``: the vocabulary is enforced in Python, and adding a tag
    must not need a migration.
    """

    sequence = models.PositiveBigIntegerField(primary_key=True)
    occurred_at = models.DateTimeField(db_index=True)
    tag = models.CharField(max_length=100, db_index=True)
    actor = models.CharField(max_length=ACTOR_MAX_LENGTH, blank=True)
    subject = models.CharField(max_length=SUBJECT_MAX_LENGTH, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=USER_AGENT_MAX_LENGTH, blank=True)
    request_id = models.CharField(max_length=REQUEST_ID_MAX_LENGTH, blank=True)
    data = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["sequence"]
        verbose_name = "audit event"
        verbose_name_plural = "audit events"
        # Nobody can even be granted the right to add, change or delete an event.
        default_permissions = ("view",)
        indexes = [
            models.Index(fields=["actor", "sequence"], name="audit_event_actor_idx"),
            models.Index(fields=["subject", "sequence"], name="audit_event_subject_idx"),
        ]
        constraints = [
            # At most one event chains from any given hash: a fork is impossible even if the
            # chain lock were bypassed.
            models.UniqueConstraint(fields=["prev_hash"], name="audit_event_prev_hash_unique"),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.tag}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Insert once; refuse any later save. Use :func:`idp.audit.journal.record`."""
        if not self._state.adding:
            raise AppendOnlyError("Audit events cannot be changed once recorded.")
        try:
            EventTag(self.tag)
        except ValueError:
            raise InvalidEventTag(f"Unknown audit tag {self.tag!r}.") from None
        if not self.hash or self.hash != self.compute_hash():
            raise ValueError("Audit events are chained by idp.audit.journal.record(); use it.")
        kwargs["force_insert"] = True
        kwargs.pop("force_update", None)
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Audit events cannot be deleted.")

    def hashed_fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in chain.HASHED_FIELDS}

    def compute_hash(self) -> str:
        """The hash this event must carry, given its fields and ``prev_hash``."""
        return chain.compute_hash(**self.hashed_fields())
