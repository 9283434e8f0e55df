"""The security journal: typed events, scrubbed of secrets, chained so that edits are detected."""
