"""The isolation section proposed from routes alone and from an OpenAPI document."""

from __future__ import annotations

from typing import Any

from harness.isolation.infer import infer_section, probe
from harness.isolation.spec import IsolationSpec

NOTES_ROUTES = [
    ("POST", "/notes"),
    ("GET", "/notes"),
    ("GET", "/notes/{noteId}"),
    ("PATCH", "/notes/{noteId}"),
    ("DELETE", "/notes/{noteId}"),
    ("GET", "/health"),
]


def test_routes_alone_give_every_operation_by_path_shape() -> None:
    section, notes = infer_section(NOTES_ROUTES)
    note = section["resources"]["note"]
    assert note["create"] == {"method": "POST", "path": "/notes", "body": {}, "id": "$.id"}
    assert note["read"] == {"method": "GET", "path": "/notes/{id}"}
    assert note["update"]["method"] == "PATCH" and note["update"]["path"] == "/notes/{id}"
    assert note["delete"] == {"method": "DELETE", "path": "/notes/{id}"}
    assert note["list"]["path"] == "/notes"
    assert set(section["resources"]) == {"note"}  # /health has no create: not a resource
    assert any("new id guessed at $.id" in n for n in notes)
    IsolationSpec.model_validate(section)


def test_tenant_path_parameters_become_tenant_placeholders() -> None:
    routes = [
        ("POST", "/orgs/{orgId}/projects"),
        ("GET", "/orgs/{orgId}/projects"),
        ("GET", "/orgs/{orgId}/projects/{projectId}"),
    ]
    section, _ = infer_section(routes)
    project = section["resources"]["project"]
    assert project["create"]["path"] == "/orgs/{tenant}/projects"
    assert project["read"]["path"] == "/orgs/{tenant}/projects/{id}"
    assert "org" not in section["resources"]  # /orgs/{orgId} is the tenant, not a resource


OPENAPI: dict[str, Any] = {
    "openapi": "3.0.0",
    "paths": {
        "/tickets": {
            "post": {
                "requestBody": {
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/New"}}
                    }
                },
                "responses": {
                    "201": {
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "data": {
                                            "type": "object",
                                            "properties": {"ticketId": {"type": "string"}},
                                        }
                                    },
                                }
                            }
                        }
                    }
                },
            },
            "get": {
                "parameters": [
                    {"name": "nextToken", "in": "query", "schema": {"type": "string"}},
                    {"name": "status", "in": "query", "schema": {"enum": ["open", "closed"]}},
                    {"name": "mine", "in": "query", "schema": {"type": "boolean"}},
                    {"name": "q", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": {
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "tickets": {
                                            "type": "array",
                                            "items": {
                                                "type": "object",
                                                "properties": {"ticketId": {"type": "string"}},
                                            },
                                        }
                                    },
                                }
                            }
                        }
                    }
                },
            },
        },
        "/tickets/{ticketId}": {"get": {}, "put": {}},
    },
    "components": {
        "schemas": {
            "New": {
                "type": "object",
                "required": ["title", "priority"],
                "properties": {"title": {"type": "string"}, "priority": {"type": "integer"}},
            }
        }
    },
}


def test_an_openapi_document_gives_bodies_ids_items_tokens_and_filters() -> None:
    section, notes = infer_section([], OPENAPI)
    ticket = section["resources"]["ticket"]
    assert ticket["create"]["body"] == {"title": "iso {text}", "priority": 1}
    assert ticket["create"]["id"] == "$.data.ticketId"
    assert ticket["list"]["items"] == "$.tickets" and ticket["list"]["id_field"] == "ticketId"
    assert ticket["list"]["cursor_param"] == "nextToken"
    assert ticket["list"]["filters"] == [{"status": "open"}, {"mine": "true"}]
    assert ticket["update"]["method"] == "PUT" and ticket["read"]["path"] == "/tickets/{id}"
    assert any("OpenAPI answer" in n for n in notes)
    IsolationSpec.model_validate(section)


def test_nothing_to_infer_says_so() -> None:
    section, notes = infer_section([("GET", "/health")], source="the routes of API Api")
    assert section["resources"] == {}
    assert "no resource found in the routes of API Api" in notes[-1]


class FakeClient:
    def __init__(self, answers: dict[str, tuple[int, Any]]) -> None:
        self.answers = answers

    def send(self, call: Any, token: str | None) -> Any:
        call.status, call.response = self.answers[f"{call.method} {call.path}"]
        return call


def test_a_probe_learns_the_id_and_the_items_from_live_answers() -> None:
    section, _ = infer_section(NOTES_ROUTES)
    client = FakeClient(
        {
            "POST /notes": (201, {"note_id": "n1", "status": "stored"}),
            "GET /notes": (200, {"notes": [{"note_id": "n1"}]}),
        }
    )
    learned = probe(section, client, "token", ("t1", "u1"))
    note = section["resources"]["note"]
    assert note["create"]["id"] == "$.note_id"
    assert note["list"]["items"] == "$.notes" and note["list"]["id_field"] == "note_id"
    assert len(learned) == 2


def test_a_refused_probe_is_reported() -> None:
    section, _ = infer_section(NOTES_ROUTES)
    learned = probe(
        section, FakeClient({"POST /notes": (400, {"message": "text required"})}), "t", ("t1", "u1")
    )
    assert "answered 400" in learned[0]
