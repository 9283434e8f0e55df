"""Registry ingestion: national extracts and FHIR deltas into identities.

parser -> diff -> guardrails -> apply; calls into ``idp.accounts`` through its service module.
"""
