"""Content-Encoding decoding in bounded steps, so a size cap holds for decoded bytes.

    async for piece in decoded(response.aiter_raw(), decoder_for("gzip", url=url),
                               limit=max_bytes + 1, url=url): ...

httpx would inflate a whole network read at once: a few kilobytes of brotli can
expand to gigabytes in one call. Each decoder here inflates about `limit` bytes
at a time (brotli's limit is a soft one: it fills whole blocks, up to ~2.3 times
the limit), and `decoded` hands them out in pieces of at most `limit` bytes, so
the caller can stop reading as soon as the cap is passed.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Iterator

import brotli

from flows.errors import FetchError


async def in_memory(content: bytes) -> AsyncIterator[bytes]:
    yield content


class Identity:
    def pieces(self, data: bytes, limit: int) -> Iterator[bytes]:
        yield data


class Zlib:
    """gzip, or deflate with or without the zlib header (servers send both)."""

    def __init__(self, wbits: int) -> None:
        self._wbits = wbits
        self._inflater = zlib.decompressobj(wbits)
        self._started = False

    def pieces(self, data: bytes, limit: int) -> Iterator[bytes]:
        if data and not self._started and self._wbits == zlib.MAX_WBITS:
            self._started = True
            try:
                zlib.decompressobj().decompress(data[:64])
            except zlib.error:
                self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        while True:
            piece = self._inflater.decompress(data, limit)
            yield piece
            data = self._inflater.unconsumed_tail
            if not data and len(piece) < limit:
                return


class Brotli:
    def __init__(self) -> None:
        self._decompressor = brotli.Decompressor()

    def pieces(self, data: bytes, limit: int) -> Iterator[bytes]:
        yield self._decompressor.process(data, output_buffer_limit=limit)
        while not self._decompressor.can_accept_more_data():
            yield self._decompressor.process(b"", output_buffer_limit=limit)


Decoder = Identity | Zlib | Brotli


def decoder_for(content_encoding: str, *, url: str) -> Decoder:
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    if not codings:
        return Identity()
    if len(codings) == 1 and codings[0] in ("gzip", "x-gzip"):
        return Zlib(zlib.MAX_WBITS | 16)
    if codings == ["deflate"]:
        return Zlib(zlib.MAX_WBITS)
    if codings == ["br"]:
        return Brotli()
    raise FetchError(f"unsupported Content-Encoding {content_encoding!r}", url=url)


async def decoded(
    raw: AsyncIterator[bytes], decoder: Decoder, *, limit: int, url: str
) -> AsyncIterator[bytes]:
    """Decoded pieces of at most `limit` bytes each."""
    try:
        async for data in raw:
            for piece in decoder.pieces(data, limit):
                for start in range(0, len(piece), limit):
                    yield piece[start : start + limit]
    except (zlib.error, brotli.error) as error:
        raise FetchError(f"cannot decode the compressed body: {error}", url=url) from error
