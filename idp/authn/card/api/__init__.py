"""The card app's JSON API, ``/api/card/v1/``.

Contract: docs/design/card-app.md and docs/api/card-v1.openapi.yaml.
"""
