"""Seeded mutations of a real UF2 for the fuzz tests: block headers set to hostile values, blocks dropped,
repeated, reordered or mixed with other families' blocks, bytes flipped, the file cut short."""

import random
import struct

BLOCK = 512
# header words: 0 magic0, 1 magic1, 2 flags, 3 target address, 4 payload size, 5 block number, 6 count, 7 family
INTERESTING = [0, 1, 2, 255, 256, 257, 476, 512, 0x2000, 0x2001, 1 << 24, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF,
               0x10000000, 0x101FFF00, 0x10200000, 0x20000000, 0xE48BFF56, 0xE48BFF59, 0x0A324655]


class Mutator:
    def __init__(self, base: bytes):
        self.blocks = [bytearray(base[i:i + BLOCK]) for i in range(0, len(base), BLOCK)]

    def case(self, seed: int, index: int) -> bytes:
        rng = random.Random(seed * 1_000_003 + index)
        blocks = [bytearray(b) for b in self.blocks]
        for _ in range(rng.randint(1, 4)):
            rng.choice(self._moves)(self, rng, blocks)
        data = b"".join(blocks)
        if rng.random() < 0.05:
            data = data[:rng.randrange(len(data) + 1)]
        return data

    def _field(self, rng, blocks):
        word = rng.randrange(8)
        value = rng.choice(INTERESTING) if rng.random() < 0.7 else rng.getrandbits(32)
        targets = blocks if rng.random() < 0.3 else [rng.choice(blocks)] if blocks else []
        for b in targets:
            struct.pack_into("<I", b, 4 * word, value)

    def _flip(self, rng, blocks):
        if blocks:
            b = rng.choice(blocks)
            for _ in range(rng.randint(1, 16)):
                b[rng.randrange(BLOCK)] = rng.getrandbits(8)

    def _drop(self, rng, blocks):
        if len(blocks) > 1:
            del blocks[rng.randrange(len(blocks))]

    def _repeat(self, rng, blocks):
        if blocks and len(blocks) < 4096:
            blocks.insert(rng.randrange(len(blocks) + 1), bytearray(rng.choice(blocks)))

    def _shuffle(self, rng, blocks):
        rng.shuffle(blocks)

    def _other_family(self, rng, blocks):
        if blocks:
            other = bytearray(rng.choice(blocks))
            struct.pack_into("<I", other, 28, rng.choice([0xE48BFF59, 0x68ED2B88, rng.getrandbits(32)]))
            blocks.insert(rng.randrange(len(blocks) + 1), other)

    def _scatter(self, rng, blocks):
        """Move a block to another flash page (a hole, or code discovery over scattered pages)."""
        if blocks:
            struct.pack_into("<I", rng.choice(blocks), 12, 0x10000000 + 256 * rng.randrange(8192))

    _moves = [_field, _field, _flip, _drop, _repeat, _shuffle, _other_family, _scatter]
