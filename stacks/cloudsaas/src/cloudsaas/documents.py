"""Documents in S3: ``POST /documents`` (a pre-signed upload URL, at most the seed's 100 MB),
``GET /documents``, ``GET /documents/{documentId}`` (metadata and a pre-signed download URL).

Objects are ``orgs/<org>/documents/<documentId>/<name>`` in the documents bucket, written with
server-side encryption (``aws:kms`` with S3's managed key): the signed upload requires the SSE header and the exact
``Content-Length`` declared, so a client cannot upload more than it asked for. The record
(name, type, size, uploader) is in PostgreSQL; another organisation's document is 404.
"""

from __future__ import annotations

from typing import Any

from cloudsaas import stores
from cloudsaas.billing import new_id
from cloudsaas.common import ApiError, Request, env, respond, run_api
from cloudsaas.db import fetch_all, fetch_one, transaction
from cloudsaas.models import DocumentBody

__all__ = ["KMS_KEY", "SSE", "URL_TTL_S", "handler"]

URL_TTL_S = 900
SSE = "aws:kms"
KMS_KEY = "alias/aws/s3"  # S3's AWS-managed key (KMS_KEY_ID names a customer key instead)
FIELDS = (
    'id AS "documentId", name, content_type AS "contentType", size_bytes AS "size", '
    's3_key AS "key", uploaded_by AS "uploadedBy", created_at AS "createdAt"'
)
_clients: dict[str, Any] = {}


def _s3() -> Any:
    if "s3" not in _clients:
        import boto3
        from botocore.config import Config

        _clients["s3"] = boto3.client(
            "s3", config=Config(signature_version="s3v4", s3={"addressing_style": "path"})
        )
    return _clients["s3"]


def create(req: Request) -> dict[str, Any]:
    body = DocumentBody.model_validate(req.body())
    org = req.caller.org_id
    document_id = new_id("doc")
    key = f"orgs/{org}/documents/{document_id}/{body.name}"
    url = _s3().generate_presigned_url(
        "put_object",
        Params={
            "Bucket": env("DOCUMENTS_BUCKET"),
            "Key": key,
            "ContentType": body.contentType,
            "ContentLength": body.size,
            "ServerSideEncryption": SSE,
            "SSEKMSKeyId": env("KMS_KEY_ID", KMS_KEY),
        },
        ExpiresIn=URL_TTL_S,
    )
    with transaction() as cur:
        cur.execute(
            "INSERT INTO documents (id, org_id, name, content_type, size_bytes, s3_key, uploaded_by)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (document_id, org, body.name, body.contentType, body.size, key, req.caller.user_id),
        )
    stores.audit(org, req.caller.user_id, "document.created", document_id, size=body.size)
    upload = {
        "url": url,
        "method": "PUT",
        "headers": {
            "Content-Type": body.contentType,
            "Content-Length": str(body.size),
            "x-amz-server-side-encryption": SSE,
            "x-amz-server-side-encryption-aws-kms-key-id": env("KMS_KEY_ID", KMS_KEY),
        },
        "expiresIn": URL_TTL_S,
    }
    return respond(201, {"documentId": document_id, "key": key, "upload": upload}, req.request_id)


def list_all(req: Request) -> dict[str, Any]:
    rows = fetch_all(
        f"SELECT {FIELDS} FROM documents WHERE org_id = %s ORDER BY created_at DESC LIMIT 500",
        (req.caller.org_id,),
    )
    return respond(200, {"items": rows, "count": len(rows)}, req.request_id)


def get_one(req: Request) -> dict[str, Any]:
    row = fetch_one(
        f"SELECT {FIELDS} FROM documents WHERE id = %s AND org_id = %s",
        (req.path.get("documentId", ""), req.caller.org_id),
    )
    if row is None:
        raise ApiError(404, "NOT_FOUND", "document not found")
    s3 = _s3()
    try:
        head = s3.head_object(Bucket=env("DOCUMENTS_BUCKET"), Key=row["key"])
    except s3.exceptions.ClientError:
        head = None
    row["uploaded"] = head is not None
    if head is not None:
        row["encryption"] = head.get("ServerSideEncryption")
        row["download"] = {
            "url": s3.generate_presigned_url(
                "get_object",
                Params={"Bucket": env("DOCUMENTS_BUCKET"), "Key": row["key"]},
                ExpiresIn=URL_TTL_S,
            ),
            "expiresIn": URL_TTL_S,
        }
    return respond(200, row, req.request_id)


ROUTES = {
    ("POST", "/documents"): create,
    ("GET", "/documents"): list_all,
    ("GET", "/documents/{documentId}"): get_one,
}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run_api(event, ROUTES)
