"""Host steps: what the host computes between accelerator phases, at a `HOST` instruction.

A host step reads each input tensor from DRAM (bits as +-1, int16 and f32 as their values, all as
float32); a word never written is an error, as for the accelerator. With an ONNX graph, it reshapes
each input to the declared shape of the graph input of the same name (batch 1 included) and runs the
graph with the reference executor (`runtime.onnx_ref`), taking the outputs by name; without one, its
one output takes the values of its one input (a relayout or a binarisation), or with `planes` its
outputs take the input's bit planes (`runtime.host.bit_planes`). Then it writes each
output: bits binarise (x > 0: +1, x < 0: -1, an exact 0 by the output's zero rule: +1 for `plus`, an
error otherwise, since ONNX Sign(0) = 0 is not +-1), int16 values must be integers in range, f32
values are stored as float32. Host steps take wall-clock time, reported apart from the accelerator's
cycles and energy.
"""

from __future__ import annotations

import functools
from collections import Counter

import numpy as np

from isa.container import HostStep, HostTensor
from isa.errors import ChewcError, first_line
from runtime.host import bit_planes, bits_words, first_index, from_words, to_words


def run_host_step(k: int, step: HostStep, dram: np.ndarray, written: np.ndarray | None) -> Counter[str]:
    """Run host step `k` on the DRAM words (marking the words it writes); the ops it ran, by type.

    `written` is None when the caller knows every input word is written (an emulator replay).
    """
    where = f"host step {k}"
    values = {t.name: _read(where, t, dram, written) for t in step.inputs}
    if step.planes is not None:
        x = values[step.inputs[0].name].reshape(1, *step.inputs[0].chw)
        split = bit_planes(x, step.planes, f"{where}: input '{step.inputs[0].name}'")
        results, ops = {step.outputs[0].name: split}, Counter({"bitplanes": 1})
    elif step.onnx:
        results, ops = _run_graph(where, step, values)
    else:
        results, ops = {step.outputs[0].name: values[step.inputs[0].name]}, Counter({"copy": 1})
    for t in step.outputs:
        words = _output_words(where, t, results[t.name])
        dram[t.dram_addr : t.dram_addr + t.words] = words
        if written is not None:
            written[t.dram_addr : t.dram_addr + t.words] = True
    return ops


@functools.lru_cache(maxsize=64)
def host_work(step: HostStep) -> tuple[int, int]:
    """(MACs, values produced) of one run of a host step, read off its graph and tensors: what the
    machine description's host model prices (convs and products by their MACs, every node by its outputs)."""
    if step.planes is not None or not step.onnx:
        return 0, sum(t.elements for t in step.outputs)
    import onnx  # a step with a graph only (onnx is a tenth of a run's start-up)

    try:
        model = onnx.shape_inference.infer_shapes(onnx.load_from_string(step.onnx))
    except Exception:  # a graph shape inference cannot read: its cost is unknown, not an error of the run
        return 0, sum(t.elements for t in step.outputs)
    shapes = {v.name: [d.dim_value or 1 for d in v.type.tensor_type.shape.dim]
              for v in (*model.graph.input, *model.graph.value_info, *model.graph.output)}
    shapes |= {i.name: list(i.dims) for i in model.graph.initializer}
    macs = elements = 0
    for node in model.graph.node:
        out = shapes.get(node.output[0]) if node.output else None
        if out is None:
            continue
        size = int(np.prod(out))
        elements += size
        w = shapes.get(node.input[1]) if len(node.input) > 1 else None
        if node.op_type == "Conv" and w is not None and len(w) > 1:
            macs += size * int(np.prod(w[1:]))
        elif node.op_type in ("MatMul", "Gemm") and (x := shapes.get(node.input[0])):
            macs += size * int(x[-1])
    return macs, elements


def _read(where: str, t: HostTensor, dram: np.ndarray, written: np.ndarray | None) -> np.ndarray:
    span = slice(t.dram_addr, t.dram_addr + t.words)
    if written is not None and not written[span].all():
        word = t.dram_addr + int(np.flatnonzero(~written[span])[0])
        raise ChewcError(f"{where}: input '{t.name}' reads DRAM word {word:#x}, which was never written")
    return from_words(t.dtype, t.chw, dram[span]).astype(np.float32, copy=False)


def _run_graph(where: str, step: HostStep, values: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], Counter[str]]:
    from onnx import helper

    from runtime.onnx_ref import executor_for  # as onnx, for a step with a graph only

    try:
        executor = executor_for(step.onnx)
    except ChewcError as e:
        raise ChewcError(f"{where}: {e}") from e
    except Exception as e:  # protobuf's DecodeError and onnx's own errors have no common ChewcError-like base
        raise ChewcError(f"{where}: the embedded ONNX model does not load ({first_line(e)})") from e
    graph_inputs = {i.name: i.type.tensor_type for i in executor.model.graph.input}
    feeds = {}
    for t in step.inputs:
        declared = graph_inputs.get(t.name)
        if declared is None:
            raise ChewcError(f"{where}: input '{t.name}' is not an input of the step's ONNX graph")
        # Symbolic dimensions (a batch named N) are 1: the host runs one sample.
        shape = [d.dim_value if d.HasField("dim_value") else 1 for d in declared.shape.dim]
        if not declared.HasField("shape"):
            shape = [1, *t.shape]
        if int(np.prod(shape)) != t.elements:
            raise ChewcError(f"{where}: input '{t.name}' has {t.elements} values, the graph declares shape {shape}")
        dtype = helper.tensor_dtype_to_np_dtype(declared.elem_type) if declared.elem_type else np.float32
        feeds[t.name] = values[t.name].reshape(shape).astype(dtype, copy=False)
    try:
        results = executor.run(feeds, [t.name for t in step.outputs])
    except ChewcError as e:
        raise ChewcError(f"{where}: {e}") from e
    except Exception as e:  # onnxruntime and qonnx raise untyped errors, e.g. building an invalid graph
        raise ChewcError(f"{where}: the ONNX graph does not run ({first_line(e)})") from e
    return results, Counter(node.op_type for node in executor.model.graph.node)


def _output_words(where: str, t: HostTensor, value: np.ndarray) -> np.ndarray:
    """The DRAM words of output `t` holding `value`; bits binarise by sign, an exact 0 by the zero rule."""
    arr = np.asarray(value)
    if arr.size != t.elements:
        raise ChewcError(
            f"{where}: output '{t.name}' has {arr.size} values, its shape {list(t.shape)} needs {t.elements}"
        )
    arr = arr.reshape(t.shape)
    if t.dtype != "bits":
        return to_words(t.dtype, arr.reshape(t.chw), f"{where}: output '{t.name}'")
    negative = arr < 0
    if not (negative | (arr > 0)).all():  # a NaN or an exact 0 somewhere
        nan = first_index(np.isnan(arr))
        zero = first_index(arr == 0) if t.zero != "plus" else None
        if nan is not None:
            raise ChewcError(f"{where}: output '{t.name}' is NaN at {nan}: no sign to binarise")
        if zero is not None:
            raise ChewcError(
                f"{where}: output '{t.name}' is exactly 0 at {zero}, which its zero "
                f"rule '{t.zero or 'none'}' rejects (ONNX Sign(0) = 0 is not representable as +-1)"
            )
    return bits_words(~negative.reshape(t.chw))
