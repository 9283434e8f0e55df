"""Setup for bench/login.py: professionals with an enrolled card app, in the bench database.

Run by ``bench/login.py`` in the bench environment (``python -m bench.login_setup OUT.json
--count N``). Each virtual user of the load gets its own professional and device: the card app
allows 3 pending challenges and 10 login challenges per 10 minutes per idNat (anti
push-bombing), a bound that one user logging in back to back would hit within seconds. Devices
are registered with ``idp.authn.card.devices.register`` (what a completed activation does); their
private keys go to OUT for the load process, which plays the phones.
"""

from __future__ import annotations

import argparse
import json
import os

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

PIN = "4826"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--count", type=int, required=True)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "idp.settings")
    import django

    django.setup()
    from django.db import transaction
    from joserfc.jwk import ECKey

    from idp.accounts.identifiers import luhn_check_digit
    from idp.accounts.models import Professional
    from idp.authn.card import devices
    from idp.authn.card.models import ActivationMethod

    users = []
    for n in range(args.count):
        payload = f"997{900000 + n:07d}"
        id_nat = "8" + payload + luhn_check_digit(payload)
        professional = Professional(family_name=f"BENCH{n}", given_names="CARTE")
        professional.set_id_nat(id_nat)
        professional.full_clean()
        professional.save()
        private = ec.generate_private_key(ec.SECP256R1())
        key = ECKey.import_key(private)
        with transaction.atomic():
            devices.register(
                professional,
                jwk=key.as_dict(private=False),
                kid=key.thumbprint(),
                name="bench phone",
                pin=PIN,
                method=ActivationMethod.ADMIN,
            )
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        users.append({"id_nat": id_nat, "kid": key.thumbprint(), "key_pem": pem, "pin": PIN})
    with open(args.out, "w") as fh:
        json.dump({"users": users}, fh)


if __name__ == "__main__":
    main()
