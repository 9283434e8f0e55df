"""The professional identity, mirroring the national registry (RPPS/ADELI)."""
