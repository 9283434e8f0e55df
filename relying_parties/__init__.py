"""Relying parties: client registry, vendor portal, approval, dynamic registration."""
