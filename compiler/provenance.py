"""Which ONNX nodes each layer of a program computes: the per-layer report names its rows by them.

A layer is named by the ONNX tensors it computes (its `tile.layer` marker: "add1, sign4" for a fused
one). Its nodes are those the tensors depend on that no earlier layer computes already, in graph
order: the nodes between the previous layers' results and its own. A layer named by no ONNX tensor
(a marker of ours) gets none; its nodes count with the next named layer.
"""

from __future__ import annotations

from collections.abc import Sequence

import onnx


def node_names(graph: onnx.GraphProto) -> list[str]:
    """Each node's name, or `OpType#index` for a node without one."""
    return [n.name or f"{n.op_type}#{i}" for i, n in enumerate(graph.node)]


def layer_nodes(graph: onnx.GraphProto, layers: Sequence[Sequence[str]]) -> list[list[str]]:
    """For each layer (the tensors it computes), the ONNX nodes it computes, in graph order."""
    names = node_names(graph)
    producer = {out: i for i, n in enumerate(graph.node) for out in n.output}
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
            todo.extend(producer[t] for t in graph.node[i].input if t in producer)
        done |= mine
        result.append([names[i] for i in sorted(mine)])
    return result
