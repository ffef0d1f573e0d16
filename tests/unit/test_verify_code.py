"""Verify codes: six characters of the unambiguous alphabet, every character equally likely in
every place (one CSPRNG draw, cut into base-31 digits)."""

from __future__ import annotations

from collections import Counter

from lettering.calls.service import VERIFY_ALPHABET, VERIFY_LENGTH, new_verify_code


def test_codes_use_the_alphabet_uniformly_in_every_position() -> None:
    codes = [new_verify_code() for _ in range(31 * 400)]
    assert all(len(code) == VERIFY_LENGTH and set(code) <= set(VERIFY_ALPHABET) for code in codes)
    assert len(set(codes)) > len(codes) * 0.99  # 887 million codes: repeats are rare
    for position in range(VERIFY_LENGTH):
        counts = Counter(code[position] for code in codes)
        assert set(counts) == set(VERIFY_ALPHABET)
        assert max(counts.values()) < 400 * 1.4  # 400 expected each; a stuck digit would be far off
        assert min(counts.values()) > 400 * 0.6
