"""Discovery documents and the JWKS. (Being built.)"""

from django.http import HttpRequest, JsonResponse


def _unavailable(request: HttpRequest, *args: object, **kwargs: object) -> JsonResponse:
    return JsonResponse({"error": "temporarily_unavailable"}, status=503)


openid_configuration = wallet_configuration = oauth_metadata = jwks = _unavailable
