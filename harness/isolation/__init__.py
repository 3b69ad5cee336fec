"""Tenant isolation checks: the IAM ``dynamodb:LeadingKeys`` evaluator (``iam``), and the
property-based isolation machine, token tampering and data-layer invariants built on it."""
