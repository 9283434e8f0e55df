"""The security journal: typed events, scrubbed of secrets, chained so that edits are detected.

Public API:

* :func:`idp.audit.journal.record` ``(tag, *, actor="", subject="", request=None, data=None)``
  appends an event (in the caller's transaction) and returns it;
* :class:`idp.audit.tags.EventTag` is the closed vocabulary of tags;
* :func:`idp.audit.verify.verify_chain` ``(batch_size=2000, *, anchor=None)`` walks the chain;
  ``manage.py audit_verify [--anchor SEQ:HASH] [--no-record]`` reports and exits 2 when broken;
* :func:`idp.audit.scrub.scrub` / :func:`idp.audit.scrub.fingerprint` are the pure functions that
  keep secrets out of the journal (also usable for log lines).

Layers of defence, from the cheapest to the one that proves: the model refuses updates and deletes;
database triggers refuse them from any client; the hash chain detects what got past both; an
anchor of the head hash kept outside the database detects truncation and complete rewrites.
"""
