"""Where a compiled program comes from: the ONNX model it was read from (`ModelSource`, taken as the
loader reads the file, so the file is read once) and which ONNX nodes each layer computes.

A layer is named by the ONNX tensors it computes (its `tile.layer` marker: "add1, sign4" for a fused
one). Its nodes are those the tensors depend on that no earlier layer computes already, in graph
order: the nodes between the previous layers' results and its own. A layer named by no ONNX tensor
(a marker of ours) gets none; its nodes count with the next named layer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import onnx
from onnx import helper

ENCODING_KEY = "chewc.input"  # model metadata: how the input is made from uint8 pixels (isa.build.ENCODINGS)


@dataclass(frozen=True)
class Node:
    name: str  # the node's name, or OpType#index for a node without one
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


@dataclass(frozen=True)
class ModelSource:
    """What the build record keeps of the model file as given: its digest, its outputs' element types and
    shapes (a dynamic dimension None), the input encoding its metadata declares, and its nodes."""

    sha256: str
    outputs: dict[str, tuple[str, tuple[int | None, ...]]]
    input_encoding: str  # "" when the metadata declares none
    nodes: tuple[Node, ...]

    @staticmethod
    def of(model: onnx.ModelProto, raw: bytes | None) -> ModelSource:
        """The source of `model` as read (before any pass changes it); `raw`: the file's bytes when they
        are the whole model, else the digest is of the model its external tensors make."""
        digest = hashlib.sha256(raw if raw is not None else model.SerializeToString(deterministic=True)).hexdigest()
        outputs = {}
        known = set(helper.get_all_tensor_dtypes())  # others the loader refuses later, naming the tensor
        for v in model.graph.output:
            t = v.type.tensor_type
            if t.HasField("shape") and t.elem_type in known:
                dims = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in t.shape.dim)
                outputs[v.name] = (str(helper.tensor_dtype_to_np_dtype(t.elem_type)), dims)
        encoding = {p.key: p.value for p in model.metadata_props}.get(ENCODING_KEY, "")
        nodes = tuple(Node(n.name or f"{n.op_type}#{i}", tuple(n.input), tuple(n.output))
                      for i, n in enumerate(model.graph.node))
        return ModelSource(digest, outputs, encoding, nodes)

    def layer_nodes(self, layers: Sequence[Sequence[str]]) -> list[list[str]]:
        """For each layer (the tensors it computes), the ONNX nodes it computes, in graph order."""
        producer = {out: i for i, n in enumerate(self.nodes) for out in n.outputs}
        done: set[int] = set()
        result = []
        for tensors in layers:
            mine: set[int] = set()
            todo = [producer[t] for t in tensors if t in producer]
            while todo:
                i = todo.pop()
                if i in done or i in mine:
                    continue
                mine.add(i)
                todo.extend(producer[t] for t in self.nodes[i].inputs if t in producer)
            done |= mine
            result.append([self.nodes[i].name for i in sorted(mine)])
        return result
