"""Murmur3_32 (x86, 32-bit) for shard assignment ([C-011]); ``mmh3`` is used when installed."""

from __future__ import annotations

__all__ = ["murmur3_32", "shard_of"]

_C1 = 0xCC9E2D51
_C2 = 0x1B873593
_MASK = 0xFFFFFFFF


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & _MASK


def murmur3_32(data: bytes | str, seed: int = 0) -> int:
    """The unsigned 32-bit MurmurHash3 of ``data`` (UTF-8 for text)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    h = seed & _MASK
    length = len(data)
    nblocks = length // 4
    for i in range(nblocks):
        k = int.from_bytes(data[4 * i : 4 * i + 4], "little")
        k = (k * _C1) & _MASK
        k = _rotl(k, 15)
        k = (k * _C2) & _MASK
        h ^= k
        h = _rotl(h, 13)
        h = (h * 5 + 0xE6546B64) & _MASK
    tail = data[4 * nblocks :]
    k = 0
    if len(tail) >= 3:
        k ^= tail[2] << 16
    if len(tail) >= 2:
        k ^= tail[1] << 8
    if tail:
        k ^= tail[0]
        k = (k * _C1) & _MASK
        k = _rotl(k, 15)
        k = (k * _C2) & _MASK
        h ^= k
    h ^= length
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _MASK
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _MASK
    h ^= h >> 16
    return h


try:  # pragma: no cover - depends on the environment
    import mmh3 as _mmh3

    def _fast(data: bytes | str, seed: int = 0) -> int:
        return int(_mmh3.hash(data, seed, signed=False))

except ImportError:  # pragma: no cover
    _fast = murmur3_32


def shard_of(user_id: str, total_shards: int) -> int:
    """``shard = murmur3_32(userId) % total_shards`` (section 3f)."""
    if not 1 <= total_shards <= 256:
        raise ValueError("total_shards must be within 1-256")
    return _fast(user_id) % total_shards
