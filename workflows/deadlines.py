"""The journey's calendar moved to `domain.deadlines` (pure rules live in domain/); kept
importable under its old name for callers that still use it."""

from domain.deadlines import Due, Job, due_warnings, next_due, pending_jobs

__all__ = ["Due", "Job", "due_warnings", "next_due", "pending_jobs"]
