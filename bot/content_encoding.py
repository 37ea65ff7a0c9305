"""Request bodies in the Content-Encodings the server reads: identity, gzip and deflate.

aiohttp's own decoding is off (`bot.web.build_web_app`): it answered br and zstd (no
decoder installed) with a plain-text 400 before any route ran, and passed a body in an
encoding it does not know on as if it were plain. Decoding here lets every other
encoding get a JSON 415 that names these three.
"""

from __future__ import annotations

import zlib

SUPPORTED = ("identity", "gzip", "deflate")
_GZIP_WBITS = 16 + zlib.MAX_WBITS
_MAX_GZIP_MEMBERS = 100  # a stream of thousands of empty members is only work


class UnsupportedEncoding(ValueError):
    """The Content-Encoding is none of `SUPPORTED` (or a list of several)."""


class UndecodableBody(ValueError):
    """The body is not in the encoding it claims (e.g. "gzip" on plain text)."""


class BodyTooLarge(ValueError):
    """The decoded body is over the limit (a small gzip can hold gigabytes)."""


def decode_body(raw: bytes, encoding: str, limit: int) -> bytes:
    """`raw` decoded from the Content-Encoding header `encoding`, at most `limit` bytes.

    Raises:
        UnsupportedEncoding: `encoding` is not one of `SUPPORTED`.
        UndecodableBody: `raw` is not valid in `encoding`.
        BodyTooLarge: the decoded body is over `limit` bytes.
    """
    name = encoding.strip().lower()
    if name in ("", "identity"):
        return raw
    if name not in SUPPORTED:
        raise UnsupportedEncoding(encoding)
    if not raw:
        return raw
    if name == "gzip":
        return _gunzip(raw, limit)
    # "deflate" is meant to be zlib-wrapped, but many clients send it raw (as aiohttp reads).
    wbits = zlib.MAX_WBITS if raw[0] & 0x0F == 8 else -zlib.MAX_WBITS
    return _inflate(zlib.decompressobj(wbits), raw, limit, name)[0]


def _gunzip(raw: bytes, limit: int) -> bytes:
    """Every member of a gzip stream (`gzip` writes one per call when appending)."""
    parts: list[bytes] = []
    rest = raw
    for _ in range(_MAX_GZIP_MEMBERS):
        data, rest = _inflate(zlib.decompressobj(_GZIP_WBITS), rest, limit, "gzip")
        parts.append(data)
        limit -= len(data)
        if not rest:
            return b"".join(parts)
    raise UndecodableBody("gzip")


def _inflate(decoder: zlib._Decompress, raw: bytes, limit: int, name: str) -> tuple[bytes, bytes]:
    """One complete compressed stream from `raw`; its data and the bytes after it."""
    try:
        data = decoder.decompress(raw, limit + 1)
    except zlib.error:
        raise UndecodableBody(name) from None
    if len(data) > limit:
        raise BodyTooLarge(name)
    if not decoder.eof:
        raise UndecodableBody(name)
    return data, decoder.unused_data
