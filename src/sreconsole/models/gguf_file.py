"""A GGUF file's metadata and tensor views, read straight from a memory map.

``gguf.GGUFReader`` (llama.cpp's reader) builds a numpy view for every element of every
metadata array; Gemma's vocabulary is three arrays of 262,144 entries, and that took
55-80 s here before a single tensor was read. This reader parses the same layout (the
GGUF v2/v3 header, key/value pairs, tensor infos, aligned data) into plain Python values
in about a second, and hands each tensor to ``gguf.quants.dequantize`` as the same
uint8 block rows ``GGUFReader`` would, so the dequantization stays the ``gguf`` package's.
Little-endian files only (the ones llama.cpp writes by default).
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAGIC = b"GGUF"
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
"""``gguf.GGUFValueType`` codes of the fixed-size scalar types, as ``struct`` formats."""
_NUMPY = {0: "<u1", 1: "<i1", 2: "<u2", 3: "<i2", 4: "<u4", 5: "<i4", 6: "<f4", 7: "?", 10: "<u8", 11: "<i8", 12: "<f8"}
STRING, ARRAY = 8, 9


@dataclass(frozen=True)
class Tensor:
    name: str
    tensor_type: Any
    """``gguf.GGMLQuantizationType``."""
    shape: tuple[int, ...]
    """As the file lists it: innermost dimension first."""
    data: Any
    """A read-only numpy view: float rows for F32/F16, uint8 block rows for quantized types."""


class GgufFile:
    """``fields`` (key → value; arrays of numbers are numpy arrays, of strings lists) and
    ``tensors`` of one GGUF file. The tensor views keep the file mapped; :meth:`close`
    (or the ``with`` block) unmaps it once they are no longer used."""

    def __init__(self, path: Path | str) -> None:
        import numpy as np
        from gguf import GGML_QUANT_SIZES, GGMLQuantizationType
        from gguf.quants import quant_shape_to_byte_shape

        self.path = Path(path)
        with open(self.path, "rb") as fh:
            self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        buf = self._map
        if buf[:4] != MAGIC:
            raise ValueError(f"{self.path} is not a GGUF file (magic {bytes(buf[:4])!r})")
        version, n_tensors, n_kv = struct.unpack_from("<IQQ", buf, 4)
        if version not in (2, 3):
            raise ValueError(f"{self.path}: GGUF version {version} (2 and 3 are read)")
        self.version = version
        pos = 24
        self.fields: dict[str, Any] = {}
        for _ in range(n_kv):
            key, pos = self._string(pos)
            (kind,), pos = struct.unpack_from("<I", buf, pos), pos + 4
            self.fields[key], pos = self._value(kind, pos, np)
        infos = []
        for _ in range(n_tensors):
            name, pos = self._string(pos)
            (n_dims,), pos = struct.unpack_from("<I", buf, pos), pos + 4
            dims = struct.unpack_from(f"<{n_dims}Q", buf, pos)
            pos += 8 * n_dims
            kind, offset = struct.unpack_from("<IQ", buf, pos)
            pos += 12
            infos.append((name, dims, kind, offset))
        alignment = int(self.fields.get("general.alignment", 32))
        start = -(-pos // alignment) * alignment
        self.tensors: list[Tensor] = []
        for name, dims, kind, offset in infos:
            qtype = GGMLQuantizationType(kind)
            n = 1
            for d in dims:
                n *= d
            rows = tuple(reversed(dims))
            block, size = GGML_QUANT_SIZES[qtype]
            at = start + offset
            if qtype == GGMLQuantizationType.F32:
                data = np.frombuffer(buf, dtype="<f4", count=n, offset=at).reshape(rows)
            elif qtype == GGMLQuantizationType.F16:
                data = np.frombuffer(buf, dtype="<f2", count=n, offset=at).reshape(rows)
            else:
                nbytes = n * size // block
                data = np.frombuffer(buf, dtype=np.uint8, count=nbytes, offset=at).reshape(quant_shape_to_byte_shape(rows, qtype))
            self.tensors.append(Tensor(name, qtype, tuple(dims), data))

    def _string(self, pos: int) -> tuple[str, int]:
        (length,) = struct.unpack_from("<Q", self._map, pos)
        pos += 8
        return self._map[pos:pos + length].decode("utf-8"), pos + length

    def _value(self, kind: int, pos: int, np) -> tuple[Any, int]:
        if kind == STRING:
            return self._string(pos)
        if kind in _SCALARS:
            fmt = _SCALARS[kind]
            return struct.unpack_from(fmt, self._map, pos)[0], pos + struct.calcsize(fmt)
        if kind != ARRAY:
            raise ValueError(f"{self.path}: unknown metadata value type {kind} at byte {pos}")
        item, count = struct.unpack_from("<IQ", self._map, pos)
        pos += 12
        if item in _NUMPY:
            array = np.frombuffer(self._map, dtype=_NUMPY[item], count=count, offset=pos).copy()
            return array, pos + array.nbytes
        values = []
        for _ in range(count):
            value, pos = self._value(item, pos, np)
            values.append(value)
        return values, pos

    def close(self) -> None:
        self.tensors = []
        try:
            self._map.close()
        except BufferError:  # a caller still holds a tensor view; the map goes with it
            pass

    def __enter__(self) -> GgufFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
