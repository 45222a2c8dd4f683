"""What a sync reports: what it did (or, in a dry run, would do), and each case the
rules decided against a copy (docs/sync.md)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from zeptui.services.sync_rules import Direction


class SyncConflict(BaseModel):
    """A case the rules decided against copying, or could not carry: a session's, or
    (with `user_id` and no session) a user's."""

    session_id: str | None = None
    user_id: str | None = None
    rule: str
    """`deleted_on_target`, `changed_on_target`, `metadata` or `message_elsewhere`."""
    detail: str

    @property
    def subject(self) -> str:
        """What the conflict is about, as the report names it."""
        return self.session_id if self.session_id is not None else f"user {self.user_id}"


class SyncReport(BaseModel):
    """What a sync did (or, in a dry run, would do)."""

    direction: Direction
    source: str
    target: str
    dry_run: bool = False
    users_created: int = 0
    users_updated: int = 0
    """Users whose fields or metadata the target took."""
    users_deleted: int = 0
    sessions_created: int = 0
    sessions_updated: int = 0
    """Existing sessions that received messages, summaries or metadata."""
    sessions_deleted: int = 0
    sessions_unchanged: int = 0
    messages_copied: int = 0
    messages_deleted: int = 0
    messages_updated: int = 0
    """Messages whose newer metadata the target took."""
    messages_kept_deleted: int = 0
    """Messages deleted on the target and still on the source: not restored."""
    summaries_copied: int = 0
    conflicts: list[SyncConflict] = Field(default_factory=list)
    not_carried: list[str] = Field(default_factory=list)
    """What the target's API could not take, said once each."""
    seconds: float = 0.0
