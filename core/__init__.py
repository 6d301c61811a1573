"""Outpost's domain: posts, accounts, schedules, and the rules that govern them.

Never imports Streamlit. The names below are the Python API scripts use::

    from core import Account, Platform, Post, Schedule, Scheduler, InMemoryPostStore
"""
from core.domain import (Account, AccountStatus, ActivityEvent, Batch, BatchState, Delivery, Membership,
                         Notification, Post, PostVariant, Role, Schedule, User, Workspace)
from core.domain.errors import (ConflictError, DuplicateError, IllegalTransitionError, NaiveDatetimeError, NotFoundError,
                         OutpostError, PastTimeError, PermissionDenied, Problem, UnknownPlatformError,
                         ValidationError)
from core.domain.lifecycle import DeliveryState, PostState, PostStatus
from core.rules.permissions import Action, Actor
from core.domain.catalog import Platform
from core.services.scheduler import ScheduleResult, Scheduler, StatusReport
from core.store import InMemoryPostStore, PostStore

__all__ = [
    "Account", "AccountStatus", "ActivityEvent", "Batch", "BatchState", "Delivery", "Membership", "Notification",
    "Post", "PostVariant", "Role", "Schedule", "User", "Workspace", "ConflictError", "DuplicateError",
    "IllegalTransitionError", "NaiveDatetimeError", "NotFoundError", "OutpostError", "PastTimeError",
    "PermissionDenied", "Problem", "Action", "Actor",
    "UnknownPlatformError", "ValidationError", "DeliveryState", "PostState", "PostStatus", "Platform",
    "ScheduleResult", "Scheduler", "StatusReport", "InMemoryPostStore", "PostStore", "SqlPostStore",
]


def __getattr__(name: str):
    # The SQL store pulls in SQLAlchemy; load it only when asked for.
    if name == "SqlPostStore":
        from core.db.sql_store import SqlPostStore
        return SqlPostStore
    raise AttributeError(name)
