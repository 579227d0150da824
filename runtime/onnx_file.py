"""An ONNX model file read whole: the protobuf and the external data files its tensors name.

ONNX lets a tensor keep its bytes in another file (`data_location = EXTERNAL`, with `location`,
`offset` and `length` entries), as exporters do for large models and as `onnx.save(...,
save_as_external_data=True)` writes. chewc reads those bytes itself, before anything else sees the
model, and only from regular files in the model's own folder: a location is a relative path that
stays inside that folder (no `..`, no absolute path, no symlink leading out), and the model and all
its data together are at most `MAX_MODEL_BYTES`. The tensors then hold their bytes inline, so no
executor is ever handed a file name (`runtime.onnx_ref.check_runnable` refuses any that still does).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import onnx
from google.protobuf.message import DecodeError

from isa.errors import ChewcError
from isa.files import MAX_MODEL_BYTES, read_bytes
from runtime.onnx_ref import tensors


def read_model(path: str | Path) -> onnx.ModelProto:
    """The model at `path` with every external tensor's bytes read in (see the module docstring)."""
    return read_model_file(path)[0]


def read_model_file(path: str | Path) -> tuple[onnx.ModelProto, bytes | None]:
    """`read_model`, and the file's bytes when they are the whole model (no external data): checking
    those bytes saves serialising a model of hundreds of MB again."""
    p = Path(path)
    data = read_bytes(p, "ONNX model", MAX_MODEL_BYTES)
    if not data:
        raise ChewcError(f"{p}: empty file, not an ONNX model")
    try:
        model = onnx.load_from_string(data)
    except (DecodeError, ValueError, RuntimeError) as e:
        raise ChewcError(f"{p}: not an ONNX model, or truncated (protobuf: {str(e).splitlines()[0] or type(e).__name__})") from e
    if not model.HasField("graph") or not model.graph.node:
        raise ChewcError(f"{p}: not an ONNX model, or truncated (no graph nodes after {len(data)} bytes)")
    if not _read_external(model, p, MAX_MODEL_BYTES - len(data)):
        return model, data
    return model, None


def _read_external(model: onnx.ModelProto, path: Path, budget: int) -> bool:
    """Inline the bytes of every external tensor of `model` (read from beside `path`), at most `budget` in
    all; whether there were any."""
    folder = path.parent.resolve()  # beside the path as given, as onnx itself resolves locations
    files: dict[Path, bytes] = {}
    for tensor in tensors(model):
        if tensor.data_location != onnx.TensorProto.EXTERNAL and not tensor.external_data:
            continue
        where = f"{path}: tensor {tensor.name!r}"
        entries = {e.key: e.value for e in tensor.external_data}
        location = entries.get("location", "")
        if not location or PurePosixPath(location).is_absolute() or ".." in PurePosixPath(location).parts:
            raise ChewcError(f"{where}: external data location {location!r} is not a file name in the model's folder")
        file = (folder / location).resolve()
        if not file.is_relative_to(folder):
            raise ChewcError(f"{where}: external data file {location!r} leads out of the model's folder ({folder})")
        if file not in files:
            # what is left of the model's budget bounds each file read (read_bytes names the limit)
            files[file] = read_bytes(file, "external data file", budget)
            budget -= len(files[file])
        blob = files[file]
        offset, length = _entry(entries, "offset", where) or 0, _entry(entries, "length", where)
        end = len(blob) if length is None else offset + length
        if end > len(blob) or offset > len(blob):
            raise ChewcError(f"{where}: external data at bytes {offset}..{end} of {location!r}, which has {len(blob)}")
        tensor.raw_data = blob[offset:end]
        del tensor.external_data[:]
        tensor.data_location = onnx.TensorProto.DEFAULT
    return bool(files)


def _entry(entries: dict[str, str], key: str, where: str) -> int | None:
    """External data entry `key` as a non-negative decimal integer, None when absent."""
    if key not in entries:
        return None
    value = entries[key]
    if not value.isdecimal() or not value.isascii():
        raise ChewcError(f"{where}: external data {key} {value!r} is not a non-negative integer")
    return int(value)
