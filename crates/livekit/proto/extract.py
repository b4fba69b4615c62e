#!/usr/bin/env python3
"""Writes the descriptor set of the LiveKit FFI protocol, taken from the
`_pb2` modules inside PyPI's `livekit` wheel, to stdout. The build compiles
it with prost-build, so the message types match that wheel's library.

    pip download livekit==1.2.1 --no-deps --only-binary :all: -d /tmp/w
    python3 extract.py /tmp/w/livekit-1.2.1-*.whl > livekit-ffi-1.2.1.fds

Reads the modules' source (the serialized FileDescriptorProto each passes
to AddSerializedFile) without importing them: no protobuf package needed.
"""
import ast
import sys
import zipfile


def varint(n):
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def main(wheel):
    files = []
    with zipfile.ZipFile(wheel) as z:
        for name in sorted(z.namelist()):
            if name.startswith("livekit/rtc/_proto/") and name.endswith("_pb2.py"):
                tree = ast.parse(z.read(name).decode())
                for node in ast.walk(tree):
                    if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "AddSerializedFile":
                        files.append(node.args[0].value)
    if not files:
        sys.exit(f"no descriptors found in {wheel}")
    # FileDescriptorSet: field 1 (length-delimited) repeated.
    sys.stdout.buffer.write(b"".join(b"\x0a" + varint(len(f)) + f for f in files))


if __name__ == "__main__":
    main(sys.argv[1])
