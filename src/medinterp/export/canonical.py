"""One byte sequence for one ONNX graph, whatever order the exporter emitted it in.

tf2onnx's transpose optimizer iterates over a ``set`` of node objects, so from process to process
the node order changes, the numbers it appends to the names it makes up (``pad_const__344``,
symbolic dimensions ``unk__2616``) change, and where it merges two nodes either name may survive:
the same Keras weights gave ONNX files of other bytes, hence other DVC hashes, in two runs on one
machine. :func:`canonical_model` rebuilds the graph in an order that depends only on its structure
and names every internal tensor, node and symbolic dimension by its place in that order. ONNX and
onnx.helper offer no such normal form, hence this module.
"""

from __future__ import annotations

import hashlib
import heapq

import onnx


def _digest(*parts: bytes | str) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(part if isinstance(part, bytes) else part.encode())
        hasher.update(b"\0")
    return hasher.hexdigest()


def _tensor_digest(tensor: onnx.TensorProto) -> str:
    unnamed = onnx.TensorProto()
    unnamed.CopyFrom(tensor)
    unnamed.name = ""
    return _digest("initializer", unnamed.SerializeToString(deterministic=True))


def _attribute_bytes(node: onnx.NodeProto) -> bytes:
    return b"".join(a.SerializeToString(deterministic=True) for a in sorted(node.attribute, key=lambda a: a.name))


def canonical_model(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``model`` whose nodes are in a structure-determined topological order, with the
    internal tensors named ``t<k>``, the nodes ``<op>_<k>`` and the symbolic dimensions ``dim_<k>``
    in that order; the graph's own inputs and outputs keep their names. The computation is
    unchanged. Raises ``ValueError`` for a graph with subgraphs
    (``If``, ``Loop``), whose inner names this does not follow, or with a cycle."""
    graph = model.graph
    if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for n in graph.node for a in n.attribute):
        raise ValueError("canonical_model: graphs with subgraphs are not supported")
    signature = {i.name: _digest("input", i.name) for i in graph.input}
    signature.update({t.name: _tensor_digest(t) for t in graph.initializer})
    signature[""] = "absent"  # an optional input left out

    waiting = {index: {name for name in node.input if name not in signature} for index, node in enumerate(graph.node)}
    consumers: dict[str, list[int]] = {}
    for index, names in waiting.items():
        for name in names:
            consumers.setdefault(name, []).append(index)

    def key(index: int) -> str:
        node = graph.node[index]
        return _digest(node.op_type, node.domain, _attribute_bytes(node), *[signature[name] for name in node.input])

    ready = [(key(i), i) for i, names in waiting.items() if not names]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        node_key, index = heapq.heappop(ready)
        order.append(index)
        for position, name in enumerate(graph.node[index].output):
            signature[name] = _digest(node_key, str(position))
            for consumer in consumers.get(name, ()):
                waiting[consumer].discard(name)
                if not waiting[consumer]:
                    heapq.heappush(ready, (key(consumer), consumer))
    if len(order) != len(graph.node):
        raise ValueError("canonical_model: the graph has a cycle or an input nothing produces")

    kept = {i.name for i in graph.input} | {o.name for o in graph.output} | {""}
    renamed: dict[str, str] = {}

    def rename(name: str) -> str:
        if name in kept:
            return name
        if name not in renamed:
            renamed[name] = f"t{len(renamed) + 1}"
        return renamed[name]

    nodes = []
    for index in order:
        node = onnx.NodeProto()
        node.CopyFrom(graph.node[index])
        node.name = f"{node.op_type}_{len(nodes) + 1}"
        node.input[:] = [rename(n) for n in node.input]
        node.output[:] = [rename(n) for n in node.output]
        nodes.append(node)
    result = onnx.ModelProto()
    result.CopyFrom(model)
    out = result.graph
    del out.node[:]
    out.node.extend(nodes)
    for group in (out.input, out.output, out.value_info, out.initializer):
        items = []
        for item in group:
            copy = type(item)()
            copy.CopyFrom(item)
            copy.name = rename(copy.name)
            items.append(copy)
        if group is out.value_info or group is out.initializer:
            items.sort(key=lambda item: int(item.name[1:]) if item.name not in kept else -1)
        del group[:]
        group.extend(items)
    dimensions: dict[str, str] = {}
    for info in (*out.input, *out.output, *out.value_info):
        for dim in info.type.tensor_type.shape.dim:
            if dim.HasField("dim_param"):
                dim.dim_param = dimensions.setdefault(dim.dim_param, f"dim_{len(dimensions) + 1}")
    return result
