"""Per-message-class encoders and decoders, generated once from the field
specifications (the way attrs and dataclasses generate ``__init__``).

The generated code is straight-line: no per-field interpretation at run
time.  Unusual values (lower-case flags, blanks in numbers, bad dates) fall
back to the codec's slow, liberal helpers, which raise RemoteSip2Error when a
value cannot be read.
"""

from __future__ import annotations

from typing import Any, Callable

from .errors import RemoteSip2Error
from .messages import (
    K_BOOL,
    K_CHAR,
    K_COUNT,
    K_DATE,
    K_INT,
    K_LIST,
    K_OK,
    K_STATUS,
    K_STR,
    K_SUMMARY,
    K_VDATE,
    K_VINT,
    K_YN,
    K_YNU,
    Message,
    PatronStatus,
    summary_from_wire,
    summary_to_wire,
)

_MISS: Any = object()


def _short(cls: type[Message], text: str, seq: int | None) -> None:
    pos = 2
    for spec in cls.FIXED:
        pos += spec.width
        if len(text) < pos:
            raise RemoteSip2Error(
                f"{cls.__name__}: fixed field {spec.name} is cut short ({len(text)} characters in all)",
                sequence=seq,
                field=spec.name,
            )
    raise AssertionError("not short")  # pragma: no cover


def compile_decoder(cls: type[Message]) -> Callable[[Any, str, int | None], Message]:
    name = cls.__name__
    width = sum(s.width for s in cls.FIXED)
    ns: dict[str, Any] = {
        "cls": cls,
        "NAME": name,
        "FIXED": cls.FIXED,
        "VAR": cls.VARIABLE,
        "MISS": _MISS,
        "new": object.__new__,
        "setattr_": object.__setattr__,
        "status": PatronStatus.from_wire,
        "summary": summary_from_wire,
        "_short": _short,
    }
    # Module-level names as default arguments: local lookups are the fastest.
    src = [
        "def decode(codec, text, seq, cls=cls, MISS=MISS, new=new, setattr_=setattr_, status=status,"
        " summary=summary, INDEX=None):",
        f"    if len(text) < {2 + width}:",
        "        _short(cls, text, seq)",
    ]
    if any(s.kind in (K_DATE, K_VDATE) for s in cls.SPEC):
        src.append("    dget = codec._date_cache.get")
    pos = 2
    out: list[tuple[str, str]] = []  # (attribute, local variable)
    for i, spec in enumerate(cls.FIXED):
        a, b = pos, pos + spec.width
        pos = b
        v = f"f{i}"
        out.append((spec.name, v))
        slow = f"codec._fixed_value(NAME, FIXED[{i}], s, seq)"
        kind = spec.kind
        if kind == K_CHAR:
            src.append(f"    {v} = text[{a}:{b}]")
        elif kind == K_YN:
            src.append(f"    s = text[{a}]")
            src.append(f"    {v} = True if s == 'Y' else False if s == 'N' else {slow}")
        elif kind == K_OK:
            src.append(f"    s = text[{a}]")
            src.append(f"    {v} = True if s == '1' else False if s == '0' else {slow}")
        elif kind == K_YNU:
            src.append(f"    s = text[{a}]")
            src.append(f"    {v} = True if s == 'Y' else False if s == 'N' else None if s == 'U' else {slow}")
        elif kind in (K_INT, K_COUNT):
            src.append(f"    s = text[{a}:{b}]")
            src.append(f"    {v} = int(s) if s.isascii() and s.isdigit() else {slow}")
        elif kind == K_DATE:
            src.append(f"    s = text[{a}:{b}]")
            src.append(f"    {v} = dget(s, MISS)")
            src.append(f"    if {v} is MISS:")
            src.append(f"        {v} = codec._date(NAME, FIXED[{i}], s, seq)")
        elif kind == K_STATUS:
            src.append(f"    {v} = status(text[{a}:{b}])")
        elif kind == K_SUMMARY:
            src.append(f"    {v} = summary(text[{a}:{b}])")
        else:  # pragma: no cover
            raise AssertionError(kind)
    scalars = [s for s in cls.VARIABLE if s.kind != K_LIST]
    lists = [s for s in cls.VARIABLE if s.kind == K_LIST]
    # One lookup per field: k >= 0 is a scalar slot, k < 0 the list slot ~k.
    index = {s.code: k for k, s in enumerate(scalars)}
    index.update({s.code: ~k for k, s in enumerate(lists)})
    ns["INDEX_"] = index
    src[0] = src[0].replace("INDEX=None", "INDEX=INDEX_")
    src.append("    ex = []")
    src.append(f"    vals = [MISS] * {len(scalars)}")
    src.append(f"    lists = [None] * {len(lists)}")
    src.append("    iget = INDEX.get")
    src.append(f"    for part in text[{pos}:].split('|'):")
    src.append("        if not part:")
    src.append("            continue")
    src.append("        c = part[:2]")
    src.append("        k = iget(c)")
    src.append("        if k is None:")
    src.append("            ex.append((c, part[2:]))")
    src.append("        elif k >= 0:")
    src.append("            if vals[k] is MISS:")
    src.append("                vals[k] = part[2:]")
    src.append("            else:")
    src.append("                ex.append((c, part[2:]))")
    src.append("        else:")
    src.append("            b = lists[~k]")
    src.append("            if b is None:")
    src.append("                lists[~k] = [part[2:]]")
    src.append("            else:")
    src.append("                b.append(part[2:])")
    var_index = {s.name: i for i, s in enumerate(cls.VARIABLE)}
    for k, spec in enumerate(scalars):
        v = f"v{k}"
        out.append((spec.name, v))
        absent = '""' if spec.required else "None"
        slow = f"codec._var_value(NAME, VAR[{var_index[spec.name]}], s, seq)"
        src.append(f"    s = vals[{k}]")
        if spec.kind == K_STR:
            src.append(f"    {v} = {absent} if s is MISS else s")
        elif spec.kind == K_BOOL:
            src.append(f"    {v} = None if s is MISS else True if s == 'Y' else False if s == 'N' else {slow}")
        elif spec.kind == K_VINT:
            src.append(f"    {v} = None if s is MISS else int(s) if s.isascii() and s.isdigit() else {slow}")
        elif spec.kind == K_VDATE:
            src.append(f"    {v} = None if s is MISS else {slow}")
        else:  # pragma: no cover
            raise AssertionError(spec.kind)
    for k, spec in enumerate(lists):
        v = f"l{k}"
        out.append((spec.name, v))
        src.append(f"    b = lists[{k}]")
        src.append(f"    {v} = tuple(b) if b else ()")
    src.append("    o = new(cls)")
    for attr, v in out:
        src.append(f"    setattr_(o, {attr!r}, {v})")
    src.append("    setattr_(o, 'extra_fields', tuple(ex) if ex else ())")
    src.append("    return o")
    exec(compile("\n".join(src), f"<sip2 decoder {cls.CODE} {name}>", "exec"), ns)  # noqa: S102 - our own generated code
    return ns["decode"]


def compile_encoder(cls: type[Message]) -> Callable[[Any, Message], str]:
    ns: dict[str, Any] = {"summary": summary_to_wire}
    src = ["def encode(codec, m):", "    fmt = codec._fmt_date", "    return ''.join(("]
    src.append(f"        {cls.CODE!r},")
    for i, spec in enumerate(cls.FIXED):
        attr = f"m.{spec.name}"
        kind = spec.kind
        v = f"x{i}"
        if kind == K_CHAR:
            src.append(f"        {attr},")
        elif kind == K_YN:
            src.append(f"        'Y' if {attr} else 'N',")
        elif kind == K_OK:
            src.append(f"        '1' if {attr} else '0',")
        elif kind == K_YNU:
            src.append(f"        'U' if ({v} := {attr}) is None else 'Y' if {v} else 'N',")
        elif kind == K_INT:
            src.append(f"        f'{{{attr}:0{spec.width}d}}',")
        elif kind == K_COUNT:
            src.append(f"        {' ' * spec.width!r} if ({v} := {attr}) is None else f'{{{v}:0{spec.width}d}}',")
        elif kind == K_DATE:
            src.append(f"        fmt({attr}),")
        elif kind == K_STATUS:
            src.append(f"        {attr}.to_wire(),")
        elif kind == K_SUMMARY:
            src.append(f"        summary({attr}),")
        else:  # pragma: no cover
            raise AssertionError(kind)
    for i, spec in enumerate(cls.VARIABLE):
        attr = f"m.{spec.name}"
        code = spec.code
        v = f"y{i}"
        kind = spec.kind
        if kind == K_STR and spec.required:
            src.append(f"        {code!r}, {attr}, '|',")
        elif kind == K_STR:
            src.append(f"        '' if ({v} := {attr}) is None else {code!r} + {v} + '|',")
        elif kind == K_LIST:
            src.append(f"        {code!r} + {'|' + code!r}.join({v}) + '|' if ({v} := {attr}) else '',")
        elif kind == K_BOOL:
            src.append(f"        '' if ({v} := {attr}) is None else {code + 'Y|'!r} if {v} else {code + 'N|'!r},")
        elif kind == K_VINT:
            fmt = f"{{{v}:0{spec.width}d}}" if spec.width else f"{{{v}}}"
            src.append(f"        '' if ({v} := {attr}) is None else f'{code}{fmt}|',")
        elif kind == K_VDATE:
            src.append(f"        '' if ({v} := {attr}) is None else {code!r} + fmt({v}) + '|',")
        else:  # pragma: no cover
            raise AssertionError(kind)
    src.append("        ''.join([c + v + '|' for c, v in ex]) if (ex := m.extra_fields) else '',")
    src.append("    ))")
    exec(compile("\n".join(src), f"<sip2 encoder {cls.CODE} {cls.__name__}>", "exec"), ns)  # noqa: S102
    return ns["encode"]
