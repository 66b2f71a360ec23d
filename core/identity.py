"""Flex chat identities: a worker's friendly name as Flex writes it in conversations, and back."""


def encode_identity(name: str) -> str:
    """alice@example.com → alice_40example_2Ecom: Flex escapes every byte that is not a letter or digit."""
    return "".join(chr(b) if chr(b).isascii() and chr(b).isalnum() else f"_{b:02X}" for b in name.encode())


def decode_identity(identity: str) -> str:
    """The inverse of encode_identity, for every `_XX` escape (the seed plugin decoded only the first)."""
    raw = bytearray()
    i = 0
    while i < len(identity):
        chunk = identity[i : i + 3]
        if len(chunk) == 3 and chunk[0] == "_" and all(c in "0123456789abcdefABCDEF" for c in chunk[1:]):
            raw.append(int(chunk[1:], 16))
            i += 3
        else:
            raw.extend(identity[i].encode())
            i += 1
    return raw.decode(errors="replace")
