"""Request bodies, validated with pydantic (the seed's Zod schemas): unknown fields refused."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "AddMember",
    "CreatePrd",
    "CreateProject",
    "CreateTask",
    "RiskRequest",
    "UpdateProject",
    "UpdateTask",
]

TaskStatus = Literal["todo", "in_progress", "review", "done"]
Priority = Literal["low", "medium", "high", "critical"]
ProjectStatus = Literal["active", "on_hold", "archived"]
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CreateProject(_Body):
    name: str = Field(min_length=1, max_length=120)
    description: str = Field("", max_length=2000)


class UpdateProject(_Body):
    name: str | None = Field(None, min_length=1, max_length=120)
    description: str | None = Field(None, max_length=2000)
    status: ProjectStatus | None = None

    @model_validator(mode="after")
    def _something(self) -> UpdateProject:
        if not self.model_fields_set:
            raise ValueError("nothing to update")
        return self


class AddMember(_Body):
    userId: str | None = Field(None, min_length=1, max_length=128)
    email: str | None = Field(None, max_length=254, pattern=EMAIL_PATTERN)
    role: Literal["member", "viewer"] = "member"

    @model_validator(mode="after")
    def _one(self) -> AddMember:
        if (self.userId is None) == (self.email is None):
            raise ValueError("give exactly one of userId and email")
        return self


class CreateTask(_Body):
    title: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=5000)
    priority: Priority = "medium"
    status: TaskStatus = "todo"
    assigneeId: str | None = Field(None, min_length=1, max_length=128)
    dueDate: date | None = None
    estimateHours: float | None = Field(None, gt=0, le=1000)


class UpdateTask(_Body):
    title: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=5000)
    priority: Priority | None = None
    status: TaskStatus | None = None
    assigneeId: str | None = Field(None, min_length=1, max_length=128)
    dueDate: date | None = None
    estimateHours: float | None = Field(None, gt=0, le=1000)
    hoursLogged: float | None = Field(None, ge=0, le=10000)  # the task's hours worked so far

    @model_validator(mode="after")
    def _something(self) -> UpdateTask:
        if not self.model_fields_set:
            raise ValueError("nothing to update")
        return self


class UserStory(_Body):
    id: str = Field(min_length=1, max_length=40)
    description: str = Field(min_length=1, max_length=2000)
    acceptanceCriteria: list[str] = Field(default_factory=list, max_length=50)


class Requirements(_Body):
    functional: list[str] = Field(default_factory=list, max_length=200)
    nonFunctional: list[str] = Field(default_factory=list, max_length=200)


class PrdContent(_Body):
    overview: str = Field("", max_length=10000)
    objectives: list[str] = Field(default_factory=list, max_length=100)
    requirements: Requirements = Field(default_factory=Requirements)
    userStories: list[UserStory] = Field(default_factory=list, max_length=200)


class CreatePrd(_Body):
    title: str = Field(min_length=1, max_length=200)
    content: PrdContent
    aiGenerated: bool = False
    approvalStatus: Literal["draft", "in_review", "approved", "rejected"] = "draft"


class RiskRequest(_Body):
    taskIds: list[str] | None = Field(None, min_length=1, max_length=100)
