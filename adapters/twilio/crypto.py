"""Phone numbers at rest: Fernet keyed from HDT_SECRET_KEY through HKDF (core.contacts.Cipher)."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_INFO = b"hdtickets/phone-numbers/v1"
_HASH_INFO = b"hdtickets/phone-number-lookup/v1"


def _derive(key: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(key)


class PhoneBox:
    """Encrypts phone numbers; `hash_key` is the separate key of their lookup HMAC."""

    def __init__(self, key: bytes) -> None:
        if not key:
            raise ValueError("HDT_SECRET_KEY is empty; set it to a long random string")
        self._fernet = Fernet(base64.urlsafe_b64encode(_derive(key, _INFO)))
        self.hash_key = _derive(key, _HASH_INFO)

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode()
        except (InvalidToken, UnicodeError) as exc:
            raise ValueError("phone number cannot be decrypted with HDT_SECRET_KEY") from exc
