"""The card app: the professional's dematerialised card (docs/design/card-app.md)."""
