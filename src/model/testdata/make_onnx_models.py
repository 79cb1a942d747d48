#!/usr/bin/env python3
"""Writes the small ONNX nets the ONNX model tests and benchmark load (run from this directory:
/usr/bin/python3 make_onnx_models.py; Debian 12's python3-onnx 1.12, opset 13).

Weights come from a formula the C++ test recomputes (onnx_model_test.cc, Weight()), so the
expected outputs are a hand computation, not a second run of OpenCV:
    weight(layer, i, j) = 0.5 * sin(1.7 * layer + 0.31 * i + 0.17 * j)
    bias(layer, j)      = 0.1 * cos(0.9 * layer + 0.23 * j)
The batch dimension is symbolic ("n").
"""
import math

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def weight(layer, rows, cols):
    return np.array([[0.5 * math.sin(1.7 * layer + 0.31 * i + 0.17 * j) for j in range(cols)]
                     for i in range(rows)], dtype=np.float32)


def bias(layer, cols):
    return np.array([0.1 * math.cos(0.9 * layer + 0.23 * j) for j in range(cols)], dtype=np.float32)


def save(graph, path):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="impulse make_onnx_models.py")
    model.ir_version = 7
    onnx.checker.check_model(model)
    onnx.save(model, path)


def gemm_mlp(sizes, hidden_act, out_act, path):
    """Gemm layers with transB=1 and W stored [out, in], as torch.nn.Linear exports them (OpenCV
    4.6 refuses Gemm with transB=0 and a bias: the FullyConnected bias assertion fails);
    hidden_act between them, out_act at the end (or None)."""
    nodes, inits = [], []
    x = "input"
    for layer in range(len(sizes) - 1):
        w, b = f"w{layer}", f"b{layer}"
        inits += [numpy_helper.from_array(weight(layer, sizes[layer], sizes[layer + 1]).T.copy(), w),
                  numpy_helper.from_array(bias(layer, sizes[layer + 1]), b)]
        y = f"gemm{layer}"
        nodes.append(helper.make_node("Gemm", [x, w, b], [y], transB=1))
        last = layer == len(sizes) - 2
        act = out_act if last else hidden_act
        if act:
            nodes.append(helper.make_node(act, [y], [f"{act.lower()}{layer}"]))
            y = f"{act.lower()}{layer}"
        x = y
    nodes[-1].output[0] = "output"
    graph = helper.make_graph(
        nodes, "mlp",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", sizes[0]])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["n", sizes[-1]])], inits)
    save(graph, path)


def matmul_softmax(path):
    """4 -> 6 (MatMul + Add, Tanh) -> 3 (MatMul + Add, Softmax over the classes)."""
    inits = [numpy_helper.from_array(weight(0, 4, 6), "w0"), numpy_helper.from_array(bias(0, 6), "b0"),
             numpy_helper.from_array(weight(1, 6, 3), "w1"), numpy_helper.from_array(bias(1, 3), "b1")]
    nodes = [helper.make_node("MatMul", ["input", "w0"], ["m0"]),
             helper.make_node("Add", ["m0", "b0"], ["a0"]),
             helper.make_node("Tanh", ["a0"], ["t0"]),
             helper.make_node("MatMul", ["t0", "w1"], ["m1"]),
             helper.make_node("Add", ["m1", "b1"], ["a1"]),
             helper.make_node("Softmax", ["a1"], ["output"], axis=1)]
    graph = helper.make_graph(
        nodes, "matmul_softmax",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 4])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["n", 3])], inits)
    save(graph, path)


if __name__ == "__main__":
    gemm_mlp([4, 8, 1], "Relu", "Sigmoid", "mlp_4_8_1_sigmoid.onnx")
    matmul_softmax("mlp_4_6_3_softmax.onnx")
    gemm_mlp([15, 64, 32, 1], "Relu", "Sigmoid", "mlp_15_64_32_1.onnx")
