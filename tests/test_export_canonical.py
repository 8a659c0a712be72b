"""The ONNX normal form that makes an export's bytes independent of the exporter's node order and
made-up names (tf2onnx's transpose optimizer iterates over a set of node objects)."""

from __future__ import annotations

import random

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from medinterp.export.canonical import canonical_model


def _model(
    names: dict[str, str], batch: str = "unk__7", order: list[int] | None = None, scale: float = 2.0
) -> onnx.ModelProto:
    """input -> Relu -> (Mul by scale, Add 1) -> Add -> output; ``names`` renames the internals."""
    n = lambda key: names.get(key, key)  # noqa: E731
    consts = [
        numpy_helper.from_array(np.full((1, 3), scale, np.float32), n("scale__3")),
        numpy_helper.from_array(np.ones((1, 3), np.float32), n("one__4")),
    ]
    nodes = [
        helper.make_node("Relu", ["input"], [n("relu:0")], name=n("relu")),
        helper.make_node("Mul", [n("relu:0"), n("scale__3")], [n("mul__5:0")], name=n("mul__5")),
        helper.make_node("Add", [n("relu:0"), n("one__4")], [n("add__6:0")], name=n("add__6")),
        helper.make_node("Add", [n("mul__5:0"), n("add__6:0")], ["output"], name=n("sum")),
    ]
    nodes = [nodes[i] for i in (order or range(len(nodes)))]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch, 3])],
        consts[::-1] if order else consts,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_order_and_made_up_names_do_not_change_the_bytes():
    reference = canonical_model(_model({})).SerializeToString()
    other_names = {
        "relu": "activation_2/Relu",
        "relu:0": "activation_2/Relu:0",
        "scale__3": "scale__901",
        "mul__5": "mul__77",
        "mul__5:0": "mul__77:0",
        "add__6": "x",
        "add__6:0": "x:0",
        "one__4": "one__12",
    }
    for seed in range(5):
        order = [0] + random.Random(seed).sample([1, 2], 2) + [3]
        assert canonical_model(_model(other_names, batch="unk__2616", order=order)).SerializeToString() == reference


def test_the_computation_is_unchanged_and_valid():
    original = _model({})
    canonical = canonical_model(original)
    onnx.checker.check_model(canonical, full_check=True)
    assert [i.name for i in canonical.graph.input] == ["input"] and [o.name for o in canonical.graph.output] == [
        "output"
    ]
    assert canonical.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "dim_1"
    x = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)

    def run(model):
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        return session.run(None, {"input": x})[0]

    np.testing.assert_array_equal(run(canonical), run(original))
    np.testing.assert_allclose(run(canonical), 2 * np.maximum(x, 0) + np.maximum(x, 0) + 1, rtol=1e-6)


def test_a_different_graph_stays_different():
    assert canonical_model(_model({}, scale=3.0)).SerializeToString() != canonical_model(_model({})).SerializeToString()


def test_graphs_it_cannot_follow_are_refused():
    dangling = _model({})
    dangling.graph.node[1].input[0] = "nowhere"
    with pytest.raises(ValueError, match="an input nothing produces"):
        canonical_model(dangling)
    branch = helper.make_graph([], "b", [], [helper.make_tensor_value_info("input", TensorProto.FLOAT, None)])
    with_if = _model({})
    with_if.graph.node.append(helper.make_node("If", ["input"], ["y"], then_branch=branch, else_branch=branch))
    with pytest.raises(ValueError, match="subgraphs are not supported"):
        canonical_model(with_if)
