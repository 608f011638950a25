"""Read the numbers out of an official repository's hparams YAML without running it.

Official configs name classes of their own repos (``!new:modules.mamba_masknet.MaskNet``),
which cannot be imported here, so hyperpyyaml cannot load them. This loader keeps the YAML
structure, records each ``!new:``/``!name:`` tag on the mapping it decorates, turns
``!PLACEHOLDER`` into None and resolves ``!ref <key>`` (plus simple integer arithmetic such as
``<kernel_size> // 2``) against the top-level keys. Anchors and aliases work as in YAML.
"""

import ast
import operator
import re

import yaml


class TaggedDict(dict):
    """A mapping that carried a YAML tag (``tag`` holds e.g. 'new:modules.mamba_masknet.MaskNet')."""

    tag = None


class _Ref(str):
    """The text of a ``!ref`` node, resolved after loading."""


class _TagIgnoringLoader(yaml.SafeLoader):
    pass


def _construct_tagged(loader, tag_suffix, node):
    if isinstance(node, yaml.MappingNode):
        value = TaggedDict(loader.construct_mapping(node, deep=True))
        value.tag = tag_suffix.lstrip(":")
        return value
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    text = loader.construct_scalar(node)
    if tag_suffix == "ref":
        return _Ref(text)
    if tag_suffix == "PLACEHOLDER":
        return None
    return text


_TagIgnoringLoader.add_multi_constructor("!", _construct_tagged)

_REF = re.compile(r"<([^<>]+)>")
_OPS = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.USub: operator.neg,
}


def _arith(text):
    """Evaluate numbers combined with + - * / // only (what official configs use in !ref)."""
    def ev(node):
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](ev(node.operand))
        raise ValueError(text)

    return ev(ast.parse(text, mode="eval"))


def _resolve(value, top, depth=0):
    if depth > 20:
        raise ValueError("!ref chain too deep (a reference cycle?)")
    if isinstance(value, _Ref):
        keys = _REF.findall(value)
        if value.strip() in (f"<{k}>" for k in keys[:1]):
            return _resolve(top.get(keys[0]), top, depth + 1)
        text = _REF.sub(lambda m: repr(_resolve(top.get(m.group(1)), top, depth + 1)), value)
        try:
            return _arith(text)
        except (ValueError, SyntaxError, TypeError, ZeroDivisionError):
            return text.replace("'", "")  # a path-like string such as results/<seed>
    if isinstance(value, TaggedDict):
        out = TaggedDict({k: _resolve(v, top, depth) for k, v in value.items()})
        out.tag = value.tag
        return out
    if isinstance(value, dict):
        return {k: _resolve(v, top, depth) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, top, depth) for v in value]
    return value


def load_plain_yaml(path):
    """Load any hyperpyyaml file as plain data: tags recorded or dropped, !ref resolved."""
    with open(path, encoding="utf-8") as f:
        try:
            data = yaml.load(f, Loader=_TagIgnoringLoader)  # noqa: S506 - SafeLoader subclass
        except yaml.YAMLError as err:
            raise ValueError(f"{path}: not valid YAML ({err}).") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a YAML mapping at the top level.")
    return _resolve(data, data)
