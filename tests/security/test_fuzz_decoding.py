"""Content-Encoding decoding under fuzzing: any header, any bytes, any chunking.

A body is decoded in pieces of at most `limit` bytes or refused with one
`FetchError` line naming the URL; what was compressed comes back byte for byte.
"""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import AsyncIterator

import brotli
from hypothesis import given
from hypothesis import strategies as st

from flows.decoding import decoded, decoder_for
from flows.errors import FetchError
from tests.security.fuzz import assert_one_line_error, fuzz_settings, hostile_text

URL = "https://x.test/page"
CODINGS = ["", "identity", "gzip", "x-gzip", "deflate", "br", "gzip, br", "compress", "GZIP "]
COMPRESS = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": brotli.compress,
    "identity": lambda data: data,
}


async def _chunks(data: bytes, sizes: list[int]) -> AsyncIterator[bytes]:
    start = 0
    for size in sizes:
        yield data[start : start + size]
        start += size
    yield data[start:]


def decode(data: bytes, coding: str, *, sizes: list[int], limit: int) -> list[bytes]:
    async def main() -> list[bytes]:
        decoder = decoder_for(coding, url=URL)
        return [
            piece async for piece in decoded(_chunks(data, sizes), decoder, limit=limit, url=URL)
        ]

    return asyncio.run(main())


chunking = st.lists(st.integers(min_value=0, max_value=300), max_size=8)


@fuzz_settings(300)
@given(
    data=st.binary(max_size=2000),
    coding=st.one_of(st.sampled_from(CODINGS), hostile_text),
    sizes=chunking,
    limit=st.integers(min_value=1, max_value=5000),
)
def test_fuzz_any_body_is_decoded_in_bounded_pieces_or_one_fetch_error(
    data: bytes, coding: str, sizes: list[int], limit: int
) -> None:
    try:
        pieces = decode(data, coding, sizes=sizes, limit=limit)
    except FetchError as error:
        assert_one_line_error(error, naming=URL)
        return
    assert all(0 < len(piece) <= limit for piece in pieces)


@fuzz_settings(200)
@given(
    data=st.binary(max_size=5000),
    coding=st.sampled_from(sorted(COMPRESS)),
    sizes=chunking,
    limit=st.integers(min_value=1, max_value=6000),
)
def test_fuzz_what_was_compressed_comes_back_whole(
    data: bytes, coding: str, sizes: list[int], limit: int
) -> None:
    pieces = decode(COMPRESS[coding](data), coding, sizes=sizes, limit=limit)
    assert b"".join(pieces) == data
    assert all(len(piece) <= limit for piece in pieces)
