"""Python source for reading and writing a sequence of spec fields (used by `specgen`).

Decoding code works on three locals, the message bytes `b`, a position and an end
(names chosen by the caller), and leaves each field in a local `v_<name>`. Runs of
fixed-size fields are read with one precompiled `struct.Struct`, which is most of what
makes `channel_update` decoding fast. Encoding code appends to a local list `out`.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable
from dataclasses import dataclass, field

from vajra.wire.schema import (
    BIGSIZE,
    BYTES_TYPES,
    INT_TYPES,
    REST,
    TRUNCATED_TYPES,
    Field,
    truncated_bytes_size,
)

BYTE_TYPES = frozenset({"byte", "u8"})


def camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def attr(name: str) -> str:
    """A field name usable as a Python attribute."""
    return name + "_" if keyword.iskeyword(name) else name


def length_fields(fields: tuple[Field, ...]) -> frozenset[str]:
    """Fields that only carry the length of a later array (not kept as attributes)."""
    return frozenset(f.count for f in fields if isinstance(f.count, str) and f.count != REST)


def fixed_size(type_name: str) -> int | None:
    """Wire size of one element of `type_name`, if it is a fixed-size scalar."""
    if type_name in INT_TYPES:
        return INT_TYPES[type_name][1]
    if type_name in BYTES_TYPES:
        return BYTES_TYPES[type_name]
    return truncated_bytes_size(type_name)


def struct_code(type_name: str) -> str:
    if type_name in INT_TYPES:
        return INT_TYPES[type_name][0]
    return f"{fixed_size(type_name)}s"


@dataclass
class Structs:
    """Precompiled struct formats shared by all generated functions (deduplicated)."""

    names: dict[str, str] = field(default_factory=dict)

    def get(self, fmt: str) -> str:
        if fmt not in self.names:
            self.names[fmt] = f"_S{len(self.names)}"
        return self.names[fmt]

    def source(self) -> list[str]:
        return [f'{name} = Struct(">{fmt}")' for fmt, name in self.names.items()]


class FieldGen:
    """Emit decode/encode source for one field list."""

    def __init__(
        self,
        fields: tuple[Field, ...],
        where: str,
        structs: Structs,
        subtype_class: Callable[[str], str],
    ):
        self.fields = fields
        self.where = where
        self.structs = structs
        self.subtype_class = subtype_class
        self.lengths = length_fields(fields)

    def _is_static(self, f: Field) -> bool:
        if f.count is None:
            return fixed_size(f.type) is not None
        return isinstance(f.count, int) and f.type in BYTE_TYPES

    def _groups(self) -> list[list[Field]]:
        out: list[list[Field]] = []
        run: list[Field] = []
        for f in self.fields:
            if self._is_static(f):
                run.append(f)
                continue
            if run:
                out.append(run)
                run = []
            out.append([f])
        if run:
            out.append(run)
        return out

    def _static_fmt(self, run: list[Field]) -> tuple[str, int]:
        fmt, size = "", 0
        for f in run:
            if f.count is None:
                fmt += struct_code(f.type)
                size += fixed_size(f.type) or 0
            else:
                assert isinstance(f.count, int)
                fmt += f"{f.count}s"
                size += f.count
        return fmt, size

    # --- decoding ----------------------------------------------------------------------

    def decode(self, pos: str, end: str, short: str) -> list[str]:
        """Lines that read every field; `short` is the exception for running out of bytes."""
        lines: list[str] = []
        for run in self._groups():
            f = run[0]
            if len(run) > 1 or self._is_static(f):
                fmt, size = self._static_fmt(run)
                names = ", ".join(f"v_{g.name}" for g in run)
                span = run[0].name if len(run) == 1 else f"{run[0].name}..{run[-1].name}"
                lines += [
                    f"if {pos} + {size} > {end}:",
                    f'    raise {short}("{self.where}: {span}")',
                    f"({names},) = {self.structs.get(fmt)}.unpack_from(b, {pos})",
                    f"{pos} += {size}",
                ]
                # BOLT 1 `point`: 33-byte compressed point; reject ones not on the curve.
                lines += [f"check_point(v_{g.name})" for g in run if g.type == "point"]
            else:
                lines += self._decode_var(f, pos, end, short)
        return lines

    def _decode_var(self, f: Field, pos: str, end: str, short: str) -> list[str]:
        v = f"v_{f.name}"
        where = f"{self.where}: {f.name}"
        if f.count is None:
            if f.type == BIGSIZE:
                return [f"{v}, {pos} = read_bigsize(b, {pos}, {end})"]
            if f.type in TRUNCATED_TYPES:
                width = TRUNCATED_TYPES[f.type]
                return [f"{v} = read_truncated(b, {pos}, {end}, {width})", f"{pos} = {end}"]
            return [f"{v}, {pos} = _d_{f.type}(b, {pos}, {end})"]
        if f.count == REST:
            lines = [f"_k = {end} - {pos}"]
        elif isinstance(f.count, int):
            lines = [f"_k = {f.count}"]
        else:
            lines = [f"_k = v_{f.count}"]
        size = fixed_size(f.type)
        if f.type in BYTE_TYPES:
            return [
                *lines,
                f"if {pos} + _k > {end}:",
                f'    raise {short}("{where}")',
                f"{v} = b[{pos}:{pos} + _k]",
                f"{pos} += _k",
            ]
        if size is not None:
            if f.count == REST:
                lines += [
                    f"if _k % {size}:",
                    f'    raise TlvLengthError("{where}: not a whole number of items")',
                    f"_k //= {size}",
                ]
            lines += [f"if {pos} + _k * {size} > {end}:", f'    raise {short}("{where}")']
            if f.type in INT_TYPES:
                code = INT_TYPES[f.type][0]
                lines.append(f'{v} = unpack_from(">%d{code}" % _k, b, {pos})')
            else:
                item = f"b[_i:_i + {size}]"
                if f.type == "point":
                    item = f"check_point({item})"
                lines.append(
                    f"{v} = tuple({item} for _i in range({pos}, {pos} + _k * {size}, {size}))"
                )
            return [*lines, f"{pos} += _k * {size}"]
        # An array of subtypes: each element knows its own size.
        loop = f"while {pos} < {end}:" if f.count == REST else "for _ in range(_k):"
        acc, o = f"_acc_{f.name}", f"_o_{f.name}"
        return [
            *lines,
            f"{acc}: list[{self.subtype_class(f.type)}] = []",
            loop,
            f"    {o}, {pos} = _d_{f.type}(b, {pos}, {end})",
            f"    {acc}.append({o})",
            f"{v} = tuple({acc})",
        ]

    # --- encoding ----------------------------------------------------------------------

    def encode(self, src: Callable[[str], str]) -> list[str]:
        """Lines appending every field to `out`; `src(name)` is the expression for a value."""

        def value(f: Field) -> str:
            if f.name in self.lengths:
                array = next(g for g in self.fields if g.count == f.name)
                return f"len({src(array.name)})"
            return src(f.name)

        lines: list[str] = []
        for run in self._groups():
            f = run[0]
            if len(run) > 1 or self._is_static(f):
                fmt, _ = self._static_fmt(run)
                args = []
                for g in run:
                    size = fixed_size(g.type) if g.count is None else g.count
                    if g.type in INT_TYPES and g.count is None:
                        args.append(value(g))
                    else:
                        args.append(f'fixed({value(g)}, {size}, "{self.where}.{g.name}")')
                lines.append(f"out.append({self.structs.get(fmt)}.pack({', '.join(args)}))")
            else:
                lines += self._encode_var(f, src(f.name))
        return lines

    def _encode_var(self, f: Field, v: str) -> list[str]:
        where = f"{self.where}.{f.name}"
        if f.count is None:
            if f.type == BIGSIZE:
                return [f"out.append(encode_bigsize({v}))"]
            if f.type in TRUNCATED_TYPES:
                return [f"out.append(encode_truncated({v}, {TRUNCATED_TYPES[f.type]}))"]
            return [f"_e_{f.type}({v}, out)"]
        lines = [f'count({v}, {f.count}, "{where}")'] if isinstance(f.count, int) else []
        size = fixed_size(f.type)
        if f.type in BYTE_TYPES:
            return [*lines, f"out.append({v})"]
        if f.type in INT_TYPES:
            code = INT_TYPES[f.type][0]
            return [*lines, f'out.append(pack(">%d{code}" % len({v}), *{v}))']
        if size is not None:
            return [*lines, f'out.append(b"".join([fixed(_x, {size}, "{where}") for _x in {v}]))']
        return [*lines, f"for _o_{f.name} in {v}:", f"    _e_{f.type}(_o_{f.name}, out)"]

    # --- types -------------------------------------------------------------------------

    def py_type(self, f: Field) -> str:
        if f.count is not None and f.type in BYTE_TYPES:
            return "bytes"
        if f.type in INT_TYPES or f.type in TRUNCATED_TYPES or f.type == BIGSIZE:
            elem = "int"
        elif fixed_size(f.type) is not None:
            elem = "bytes"
        else:
            elem = self.subtype_class(f.type)
        return elem if f.count is None else f"tuple[{elem}, ...]"

    def attributes(self) -> list[Field]:
        return [f for f in self.fields if f.name not in self.lengths]


def spec_text(f: Field) -> str:
    """The field as the spec writes it, for comments."""
    count = "" if f.count is None else f"{f.count}*"
    return f"[{count}{f.type}:{f.name}]"
