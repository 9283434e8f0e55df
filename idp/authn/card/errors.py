"""The card app's error vocabulary: stable codes, HTTP status, English and French messages.

Every failure of the card app's services raises :class:`CardError` with one of these codes; the
app API renders it as ``{"error", "message", "message_fr"}`` (docs/design/card-app.md), the login
pages show the message in the page's language. Codes are an API contract: never rename one.
"""

from __future__ import annotations

from typing import Any

# code: (HTTP status, English, French)
CATALOGUE: dict[str, tuple[int, str, str]] = {
    "invalid_request": (400, "The request is malformed.", "La requête est mal formée."),
    "invalid_signature": (
        401,
        "The request signature is missing or invalid.",
        "La signature de la requête est absente ou invalide.",
    ),
    "stale_request": (
        401,
        "The request is too old or from the future: check the phone's clock.",
        "La requête est trop ancienne ou datée du futur : vérifiez l'heure du téléphone.",
    ),
    "replayed_request": (
        401,
        "This request was already received.",
        "Cette requête a déjà été reçue.",
    ),
    "unknown_device": (
        401,
        "This device is not enrolled. Activate the app again.",
        "Cet appareil n'est pas enrôlé. Activez l'application à nouveau.",
    ),
    "device_revoked": (
        403,
        "This device was revoked. Activate the app again.",
        "Cet appareil a été révoqué. Activez l'application à nouveau.",
    ),
    "device_blocked": (
        403,
        "This device is blocked after too many wrong PINs. Activate the app again or contact "
        "your administrator.",
        "Cet appareil est bloqué après trop de codes PIN erronés. Activez l'application à nouveau "
        "ou contactez votre administrateur.",
    ),
    "device_expired": (
        403,
        "This card app credential has expired. Activate the app again to renew it.",
        "Le certificat de cette application a expiré. Activez l'application à nouveau pour le "
        "renouveler.",
    ),
    "account_inactive": (
        403,
        "This account is suspended or deactivated.",
        "Ce compte est suspendu ou désactivé.",
    ),
    "activation_invalid": (
        400,
        "The activation codes are wrong or no longer valid.",
        "Les codes d'activation sont erronés ou ne sont plus valables.",
    ),
    "activation_expired": (
        410,
        "The activation has expired. Start again.",
        "L'activation a expiré. Recommencez.",
    ),
    "too_many_attempts": (
        429,
        "Too many wrong attempts. Start again later.",
        "Trop de tentatives erronées. Recommencez plus tard.",
    ),
    "weak_pin": (
        400,
        "Choose a PIN of 4 to 8 digits that is not a sequence or a repetition.",
        "Choisissez un code PIN de 4 à 8 chiffres qui ne soit ni une suite ni une répétition.",
    ),
    "too_many_devices": (
        409,
        "You have reached the maximum number of devices. Revoke one first.",
        "Vous avez atteint le nombre maximal d'appareils. Révoquez-en un d'abord.",
    ),
    "device_not_found": (404, "No such device.", "Appareil introuvable."),
    "no_device": (
        404,
        "No active card app is enrolled for this identifier.",
        "Aucune application carte active n'est enrôlée pour cet identifiant.",
    ),
    "challenge_not_found": (404, "No such request.", "Demande introuvable."),
    "challenge_expired": (410, "This request has expired.", "Cette demande a expiré."),
    "challenge_answered": (
        409,
        "This request was already answered.",
        "Il a déjà été répondu à cette demande.",
    ),
    "wrong_number": (
        403,
        "Wrong number: the sign-in was refused.",
        "Mauvais nombre : la connexion a été refusée.",
    ),
    "wrong_pin": (
        403,
        "Wrong PIN: the sign-in was refused.",
        "Code PIN erroné : la connexion a été refusée.",
    ),
    "too_many_pending": (
        429,
        "Too many sign-in requests are waiting. Answer or let them expire first.",
        "Trop de demandes de connexion sont en attente. Répondez-y ou laissez-les expirer.",
    ),
    "rate_limited": (
        429,
        "Too many requests. Try again in a moment.",
        "Trop de requêtes. Réessayez dans un instant.",
    ),
    "session_not_found": (404, "No such session.", "Session introuvable."),
    "push_unavailable": (
        404,
        "This server sends no push notifications: check for requests instead.",
        "Ce serveur n'envoie pas de notifications : consultez les demandes en attente.",
    ),
    "invalid_code": (400, "Wrong or already used code.", "Code erroné ou déjà utilisé."),
}


class CardError(Exception):
    """A card app failure with a stable ``code`` (a key of :data:`CATALOGUE`)."""

    def __init__(self, code: str, detail: str = "", **extra: Any) -> None:
        if code not in CATALOGUE:
            raise ValueError(f"unknown card error code {code!r}")
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail  # for logs and the journal, never shown
        self.extra = extra  # public fields added to the JSON body (e.g. retry_after)

    @property
    def status(self) -> int:
        return CATALOGUE[self.code][0]

    def message(self, language: str = "en") -> str:
        _status, english, french = CATALOGUE[self.code]
        return french if language == "fr" else english

    def as_json(self) -> dict[str, Any]:
        return {
            "error": self.code,
            "message": self.message("en"),
            "message_fr": self.message("fr"),
            **self.extra,
        }
